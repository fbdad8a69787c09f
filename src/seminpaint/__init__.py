"""seminpaint: semantic image inpainting with deep generative models (Yeh et al., CVPR 2017).

Fill large holes by searching a trained GAN's latent space for the image that best agrees with
the known pixels (context loss, Eq. 4) and looks real to the discriminator (prior loss, Eq. 5),
then blend it in (Eq. 6). Mask convention: True / white = missing, to be filled.
"""

from .api import InpaintResult, inpaint
from .errors import InpaintError
from .latent import SearchResult, search
from .networks.checkpoint import load_model
from .networks.model import GenerativeModel
from .settings import DEFAULT, ENHANCED, FAST, MIRRORED, PAPER, PRESETS, QUALITY, SearchSettings

__all__ = [
    "DEFAULT", "ENHANCED", "FAST", "GenerativeModel", "InpaintError", "InpaintResult", "MIRRORED", "PAPER", "PRESETS",
    "QUALITY", "SearchResult", "SearchSettings", "inpaint", "load_model", "search",
]
__version__ = "0.1.0"
