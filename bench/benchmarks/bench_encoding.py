"""asv benchmarks of the hash encoding (forward, backward) and of image fitting."""

import numpy as np

from nearlinear.encoding import HashEncoding, fit_image


class EncodingThroughput:
    params = (["simplex", "cube"], [2, 3, 4, 6])
    param_names = ["lattice", "n_dims"]

    def setup(self, lattice, n_dims):
        rng = np.random.default_rng(0)
        self.enc = HashEncoding(n_dims, lattice=lattice)
        self.x = rng.random((2**16, n_dims), dtype=np.float32)
        self.g = rng.standard_normal((2**16, self.enc.output_dims)).astype(np.float32)

    def time_forward(self, lattice, n_dims):
        self.enc.forward(self.x)

    def time_backward(self, lattice, n_dims):
        self.enc.backward(self.x, self.g)

    def time_input_gradient(self, lattice, n_dims):
        self.enc.backward(self.x, self.g, input_gradient=True)

    def peakmem_forward_backward(self, lattice, n_dims):
        self.enc.forward(self.x)
        self.enc.backward(self.x, self.g)


class ImageFit:
    params = (["simplex", "cube"],)
    param_names = ["lattice"]

    def setup(self, lattice):
        rows = np.linspace(0, 1, 128)[:, None]
        cols = np.linspace(0, 1, 128)[None, :]
        self.image = np.stack([0.5 + 0.4 * np.sin(9 * rows + 7 * cols),
                               0.5 + 0.4 * np.cos(13 * rows * cols),
                               0.5 + 0.4 * np.sin(17 * rows) * np.cos(11 * cols)], axis=-1)

    def time_fit_100_steps(self, lattice):
        fit_image(self.image, lattice=lattice, steps=100, batch_size=2**12)

    def track_psnr_100_steps(self, lattice):
        return fit_image(self.image, lattice=lattice, steps=100, batch_size=2**12).psnr

    track_psnr_100_steps.unit = "dB"
