"""How strongly images carry the checkerboard that stride-2 upsampling leaves, against real Monets.

A stride-2 transposed convolution paints a pattern that repeats every 2 pixels, and two of them in a
row one that repeats every 4 (Odena, Dumoulin and Olah, 2016, "Deconvolution and Checkerboard
Artifacts"). Such a grid shows in the power spectrum of S x S images as sharp peaks at the
frequencies k * S / 4 (k = 0..3 on both axes, DC excluded); natural images and paintings have
smooth spectra there. The measure: the luminance power spectrum averaged over all images of a
source (averaging removes the single images' random fluctuations), then at each grid frequency its
power over the median power of its neighbourhood (a 7x7 window without the peak), in decibels; the
score is the strongest of these peaks.

JPEG's 8x8 blocks put a little energy at the same frequencies, so real JPEGs score a few dB too:
`checkerboard_excess_db`, the generated images' score minus the real images', is the number to
read: about 0 when the grid frequencies look like a Monet's, positive when there is a grid.
"""

import numpy as np

PERIOD = 4  # Two stride-2 upsamplings: patterns of period 2 and 4.
NEIGHBOURHOOD = 3  # Half-width of the window around each grid frequency.


def _grid_frequencies(size, period):
    if size % period:
        raise ValueError(f"image size {size} is not a multiple of the grid period {period}")
    steps = [k * size // period for k in range(period)]
    return [(u, v) for u in steps for v in steps if (u, v) != (0, 0)]


def _window_offsets(radius):
    return [(du, dv) for du in range(-radius, radius + 1) for dv in range(-radius, radius + 1)
            if (du, dv) != (0, 0)]


def power_spectrum_sum(images):
    """The sum over images of the luminance power spectrum of (N, S, S, 3) or (N, S, S) images."""
    images = np.asarray(images, dtype=np.float64)
    if images.ndim == 4:
        images = images.mean(axis=-1)  # The grid is in every channel; luminance carries it.
    if images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"expected (N, S, S[, 3]) square images, got shape {images.shape}")
    images = images - images.mean(axis=(1, 2), keepdims=True)
    return (np.abs(np.fft.fft2(images)) ** 2).sum(axis=0)


def grid_peak_db(spectrum, period=PERIOD):
    """The strongest grid peak of an (S, S) power spectrum: max of 10 log10(peak / neighbours' median)."""
    size = spectrum.shape[0]
    offsets = _window_offsets(NEIGHBOURHOOD)
    peaks = []
    for u, v in _grid_frequencies(size, period):
        # The spectrum is periodic: windows at the border wrap around.
        neighbours = [spectrum[(u + du) % size, (v + dv) % size] for du, dv in offsets]
        peaks.append(10.0 * np.log10((spectrum[u, v] + 1e-12) / (np.median(neighbours) + 1e-12)))
    return float(max(peaks))


def score_images(images, period=PERIOD):
    """The checkerboard score in dB of one set of images (see the module docstring)."""
    return grid_peak_db(power_spectrum_sum(images), period)


class CheckerboardMeter:
    """Accumulates the power spectrum over batches of one source; `result()` is its score in dB."""

    def __init__(self, period=PERIOD):
        self.period = period
        self.spectrum = None

    def update(self, images):
        batch = power_spectrum_sum(images)
        self.spectrum = batch if self.spectrum is None else self.spectrum + batch

    def result(self):
        if self.spectrum is None:
            raise ValueError("the checkerboard meter has seen no images")
        return grid_peak_db(self.spectrum, self.period)


def compare(generated_db, real_db):
    """The report entries: both sources' scores and the generated images' excess over the real."""
    return {
        "checkerboard_db": float(generated_db),
        "checkerboard_real_db": float(real_db),
        "checkerboard_excess_db": float(generated_db - real_db),
    }
