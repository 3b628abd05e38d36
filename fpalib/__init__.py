"""fpalib: Fast Weight Painters (Irie & Schmidhuber, ICLR 2023) as a small library.

Sub-packages:
    fpalib.rules    fast-weight learning rules (delta, additive, additive-rate, Oja), loop and parallel forms
    fpalib.models   the painter, the LightGAN generator and discriminator
    fpalib.train    configuration dataclasses, losses, EMA and the GAN trainer
    fpalib.data     image-folder datasets and the emoji set
"""

__version__ = "0.1.0"
