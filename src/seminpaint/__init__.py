"""seminpaint: semantic image inpainting with deep generative models (Yeh et al., CVPR 2017).

Fill large holes by searching a trained GAN's latent space for the image that best agrees with
the known pixels (context loss, Eq. 4) and looks real to the discriminator (prior loss, Eq. 5),
then Poisson-blend it in (Eq. 6). Mask convention: True / white = missing, to be filled.
"""

from .api import InpaintResult, inpaint
from .checkpoint import load_model
from .errors import InpaintError
from .latent import PAPER, PRESETS, SearchResult, SearchSettings, search
from .model import GenerativeModel

__all__ = [
    "GenerativeModel", "InpaintError", "InpaintResult", "PAPER", "PRESETS", "SearchResult",
    "SearchSettings", "inpaint", "load_model", "search",
]
__version__ = "0.1.0"
