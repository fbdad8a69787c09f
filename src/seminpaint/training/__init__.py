"""Training the networks: one loop (loop.py) and a short file per trainer whose step is a plain function.

loop.Run is a run folder and its loop: epochs over a seeded shuffle, batches, a checkpoint every
N steps and at each epoch's end that a killed run resumes from exactly, the log, the precision
(autocast, memory layout, fast layers, fused Adam) and, for the DCGAN, each process's shard of
every batch under torchrun. dcgan.py trains the paper's G and D (gan_step: Eq. 1), with the moving
average of G of averaging.py; latent_encoder.py trains the latent encoder E(y, M) on the search's
own objective (encoder_step); context_encoder.py trains the Context Encoder baseline
(context_encoder_step). Inference never imports this package: the networks it trains are in
seminpaint.networks.
"""

from .context_encoder import ContextEncoderTrainConfig, train_context_encoder
from .dcgan import train
from .latent_encoder import EncoderTrainConfig, train_encoder
from .loop import CHECKPOINT_NAME, TrainConfig

__all__ = ["CHECKPOINT_NAME", "ContextEncoderTrainConfig", "EncoderTrainConfig", "TrainConfig", "train",
           "train_context_encoder", "train_encoder"]
