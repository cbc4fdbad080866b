"""Figures: layout and the physical sense of the false-colour composite."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from companion import data, plots  # noqa: E402


def test_false_colour_shows_water_dark_and_vegetation_bright_in_nir():
    jasper = data.load("jasper")
    rgb = plots.false_colour(jasper)            # R channel = 800 nm (NIR)
    assert rgb.shape == (100, 100, 3) and rgb.min() >= 0 and rgb.max() <= 1
    maps = jasper.to_images(jasper.abundances)
    water = maps[jasper.names.index("water")] > 0.9
    tree = maps[jasper.names.index("tree")] > 0.9
    assert rgb[..., 0][water].mean() < 0.2 < 0.6 < rgb[..., 0][tree].mean()


def test_abundance_maps_layout_and_shared_scale():
    truth = np.random.default_rng(0).dirichlet(np.ones(3), size=20 * 30).T.reshape(3, 20, 30)
    fig = plots.abundance_maps(truth, truth[::-1], names=["a", "b", "c"])
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(images) == 6
    assert all(im.get_clim() == (0.0, 1.0) for im in images)
    assert fig.axes[1].get_title() == "a: estimate"
    plt.close(fig)


def test_endmember_spectra_sorts_wavelengths_and_styles_lines():
    E = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    fig = plots.endmember_spectra(E, 2 * E, wavelengths=np.array([500.0, 400.0, 600.0]))
    truth_line, estimate_line = fig.axes[0].lines
    np.testing.assert_array_equal(truth_line.get_xdata(), [400.0, 500.0, 600.0])
    np.testing.assert_array_equal(truth_line.get_ydata(), [3.0, 1.0, 5.0])
    assert truth_line.get_linestyle() == "--" and estimate_line.get_linestyle() == "-"
    plt.close(fig)


def test_false_colour_needs_band_indices_without_wavelengths():
    crop = data.load("urban_crop")
    with pytest.raises(ValueError, match="rgb_bands"):
        plots.false_colour(crop)
    rgb = plots.false_colour(crop, rgb_bands=(60, 46, 24))
    maps = crop.to_images(crop.abundances)
    nir = {name: rgb[..., 0][maps[k] > 0.8].mean() for k, name in enumerate(crop.names[:3])}
    # seen: grass 0.49, tree 0.55, asphalt 0.36 in the NIR channel
    assert min(nir["grass"], nir["tree"]) > nir["asphalt road"] + 0.1
