"""The networks and their files: what the method searches and what the baselines run.

dcgan.py holds the paper's DCGAN, G: z (B, latent_dim) → image (B, C, H, W) in [-1, 1] and
D: image → one logit per image (B,), with its config dataclass; encoder.py the latent encoder
E(y, M) → z that starts the search; context_encoder.py the Context Encoder network (Pathak et al.)
of the baseline. model.py wraps any G/D pair, with its latent size and z's range, as the search
sees it (GenerativeModel). checkpoint.py writes and reads them: tensors in safetensors, the config
as JSON in the header, so a file alone rebuilds the network and loading unpickles nothing. Only
networks live here: how they are trained is seminpaint.training, how they run fast
seminpaint.runtime.
"""
