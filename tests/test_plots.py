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


def test_fit_width_shrinks_wide_figures_only():
    wide, narrow = plt.figure(figsize=(10.0, 3.0)), plt.figure(figsize=(4.0, 3.0))
    plots.fit_width(wide)
    plots.fit_width(narrow)
    assert wide.get_size_inches() == pytest.approx([plots.COLUMN_WIDTH_IN, 3.0 * plots.COLUMN_WIDTH_IN / 10])
    assert narrow.get_size_inches() == pytest.approx([4.0, 3.0])
    plt.close("all")


def test_show_displays_a_numbered_captioned_figure_that_fits_the_column(monkeypatch):
    import base64
    import re

    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, raw=False: shown.append(obj))
    plots.use_book_style()
    for caption in ("First <one>. More text", "Second"):
        fig, ax = plt.subplots(figsize=(12.0, 3.0))
        ax.plot([0, 1], [0, 1])
        plots.show(caption, fig)
    assert plt.get_fignums() == []                      # closed after showing
    first, second = (s["text/html"] for s in shown)
    assert "<b>Figure 1.</b> First &lt;one&gt;. More text</figcaption>" in first
    assert 'alt="First &lt;one&gt;"' in first and "<b>Figure 2.</b> Second" in second
    png = base64.b64decode(re.search(r"base64,([^\"]+)", first).group(1))
    width = int.from_bytes(png[16:20], "big")
    assert f'width="{width}"' in first and width <= plots.COLUMN_WIDTH_IN * 110
    assert base64.b64decode(shown[0]["image/png"]) == png


def test_spectra_legend_sits_below_the_panels():
    E = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    fig = plots.endmember_spectra(E, 2 * E)
    assert fig.axes[0].get_legend() is None and len(fig.legends) == 1
    plt.close(fig)


def test_fit_width_keeps_a_colour_bar_clear_of_the_panels():
    maps = np.random.default_rng(0).dirichlet(np.ones(6), size=100).T.reshape(6, 10, 10)
    fig = plots.fit_width(plots.abundance_maps(maps))
    assert fig.get_figwidth() == pytest.approx(plots.COLUMN_WIDTH_IN)
    bar = next(ax for ax in fig.axes if ax.get_label() == "<colorbar>")
    panels = [ax for ax in fig.axes if ax.images]
    assert bar.get_position().x0 > max(ax.get_position().x1 for ax in panels)
    plt.close(fig)
