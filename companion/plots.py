"""The book's figures, in one style: abundance maps, endmember spectra, false-colour images, and
:func:`show`, which puts a figure on the page numbered, captioned, with alt text, at a width that
fits the book's text column."""

from __future__ import annotations

import base64
import html
import io
import itertools
import warnings
from collections.abc import Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

from .data.hsi import HSI

__all__ = [
    "abundance_maps", "curves", "endmember_spectra", "false_colour", "figure_html", "fit_width",
    "show", "significance_heatmap", "significance_legend", "use_book_style",
]

# Width of the book's text column (sphinx-book-theme at a 1400 px window: about 770 px), in inches
# at the book's 110 dpi: a wider figure would be scaled down on the page, fonts and ticks with it.
COLUMN_WIDTH_IN = 7.0
_numbers = itertools.count(1)

BOOK_STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 110,
    "savefig.bbox": "tight",
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "axes.grid": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "image.cmap": "viridis",
    "legend.fontsize": 8,
    "legend.frameon": False,
}


def use_book_style() -> None:
    """Apply the book's matplotlib style and restart figure numbering (call once per notebook)."""
    global _numbers
    mpl.rcParams.update(BOOK_STYLE)
    _numbers = itertools.count(1)


def fit_width(fig: plt.Figure, width_in: float = COLUMN_WIDTH_IN) -> plt.Figure:
    """Shrink ``fig`` to at most ``width_in`` inches wide (height scaled alike) and lay it out
    again (tight layout, unless a colour bar was placed beside its axes), so the page shows it at
    full size with the book's font sizes; narrower figures are left alone. Returns ``fig``."""
    width, height = fig.get_size_inches()
    if width > width_in:
        fig.set_size_inches(width_in, height * width_in / width)
        has_colour_bar = any(ax.get_label() == "<colorbar>" for ax in fig.axes)  # placed by hand
        if fig.get_layout_engine() is None and not has_colour_bar:
            with warnings.catch_warnings():   # colour bars spanning several axes cannot be tightened
                warnings.simplefilter("ignore")
                fig.tight_layout()
    return fig


def figure_html(png: bytes, number: int, caption: str, alt: str | None = None,
                width_px: int | None = None) -> str:
    """A ``<figure>`` holding the PNG (inline), "Figure ``number``." and the caption, with alt
    text (default: the caption's first sentence). Width in CSS pixels (capped at the column)."""
    alt = alt or caption.split(". ")[0]
    size = f' width="{width_px}"' if width_px else ""
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure class="hu-figure" style="margin: 0.5em 0 1.2em 0">'
            f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}"{size} '
            f'style="max-width: 100%; height: auto">'
            f'<figcaption style="font-size: 0.9em"><b>Figure {number}.</b> {html.escape(caption)}'
            "</figcaption></figure>")


def show(caption: str, fig: plt.Figure | None = None, alt: str | None = None) -> None:
    """Display ``fig`` (default: the current figure) as the chapter's next numbered figure with
    ``caption`` (plain text) and ``alt`` text, fitted to the column (:func:`fit_width`), then
    close it. The output holds the HTML figure and the PNG. Outside IPython the figure is only
    closed."""
    fig = fig if fig is not None else plt.gcf()
    fit_width(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    png = buffer.getvalue()
    width_px = int.from_bytes(png[16:20], "big")    # the PNG header's width: 1 image px = 1 CSS px
    plt.close(fig)
    try:
        from IPython.display import display
    except ImportError:
        return
    body = figure_html(png, next(_numbers), caption, alt, width_px)
    # The book shows the HTML figure (myst-nb prefers text/html); the PNG stays in the bundle for
    # tools that read images from notebooks.
    display({"text/html": body, "image/png": base64.b64encode(png).decode("ascii"),
             "text/plain": f"<Figure: {caption}>"}, raw=True)


def _names(names: Sequence[str] | None, p: int) -> list[str]:
    return list(names) if names is not None else [f"endmember {i + 1}" for i in range(p)]


def abundance_maps(
    maps_true: np.ndarray,
    maps_est: np.ndarray | None = None,
    names: Sequence[str] | None = None,
    labels: tuple[str, str] = ("ground truth", "estimate"),
    title: str | None = None,
) -> plt.Figure:
    """One row per endmember: ground truth beside the estimate, shared 0-1 colour scale.

    ``maps_true, maps_est: (p, rows, cols)``. With no estimate, ground truth is shown in one row.
    """
    p, rows, cols = maps_true.shape
    names = _names(names, p)
    aspect = cols / rows
    if maps_est is None:
        fig, axes = plt.subplots(1, p, figsize=(2.2 * p * aspect, 2.4), squeeze=False)
        panels = [[(maps_true[k], names[k])] for k in range(p)]
        axes = axes.T
    else:
        fig, axes = plt.subplots(p, 2, figsize=(2 * 2.2 * aspect + 0.8, 2.1 * p), squeeze=False)
        panels = [
            [(maps_true[k], f"{names[k]}: {labels[0]}"), (maps_est[k], f"{names[k]}: {labels[1]}")]
            for k in range(p)
        ]
    image = None
    for row_axes, row_panels in zip(axes, panels, strict=True):
        for ax, (data, label) in zip(row_axes, row_panels, strict=True):
            image = ax.imshow(data, vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_title(label)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, label="abundance")
    if title:
        fig.suptitle(title)
    return fig


def endmember_spectra(
    E_true: np.ndarray | None,
    E_est: np.ndarray | None = None,
    wavelengths: np.ndarray | None = None,
    names: Sequence[str] | None = None,
    labels: tuple[str, str] = ("ground truth", "estimate"),
    title: str | None = None,
) -> plt.Figure:
    """One panel per endmember: ground truth dashed, estimate solid. ``E: (bands, p)``."""
    reference = E_true if E_true is not None else E_est
    if reference is None:
        raise ValueError("give E_true, E_est or both")
    bands, p = reference.shape
    names = _names(names, p)
    # Sort by wavelength: AVIRIS band centres step back where its spectrometers overlap.
    order = np.arange(bands) if wavelengths is None else np.argsort(wavelengths, kind="stable")
    x = order if wavelengths is None else np.asarray(wavelengths)[order]
    fig, axes = plt.subplots(1, p, figsize=(2.6 * p, 2.4), sharey=True, squeeze=False)
    for k, ax in enumerate(axes[0]):
        if E_true is not None:
            ax.plot(x, E_true[order, k], "--", color="black", lw=1.2, label=labels[0])
        if E_est is not None:
            ax.plot(x, E_est[order, k], "-", color="C1", lw=1.2, label=labels[1])
        ax.set_title(names[k])
        ax.set_xlabel("wavelength (nm)" if wavelengths is not None else "band index")
    axes[0, 0].set_ylabel("reflectance")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    handles, texts = axes[0, 0].get_legend_handles_labels()
    if len(handles) > 1:  # below the panels, where it hides no curve
        fig.legend(handles, texts, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=len(handles))
    return fig


def false_colour(
    hsi: HSI,
    rgb_nm: tuple[float, float, float] = (800.0, 650.0, 550.0),
    rgb_bands: tuple[int, int, int] | None = None,
) -> np.ndarray:
    """A ``(rows, cols, 3)`` false-colour composite in [0, 1].

    Default: NIR, red and green shown as R, G, B (colour infrared: vegetation red, water dark),
    chosen by wavelength, or by band index with ``rgb_bands`` (needed when the image has no
    wavelengths). Each channel is stretched between its 2nd and 98th percentiles.
    """
    if rgb_bands is not None:
        idx = list(rgb_bands)
    elif hsi.wavelengths is None:
        raise ValueError(f"{hsi.name} has no wavelengths: pass rgb_bands=(nir, red, green) indices")
    else:
        idx = [int(np.argmin(np.abs(hsi.wavelengths - nm))) for nm in rgb_nm]
    rgb = hsi.cube()[:, :, idx]
    low = np.percentile(rgb, 2, axis=(0, 1))
    high = np.percentile(rgb, 98, axis=(0, 1))
    return np.clip((rgb - low) / np.maximum(high - low, 1e-12), 0.0, 1.0)


def curves(
    x: Sequence[float],
    series: dict[str, tuple[Sequence[float], Sequence[float]]],
    xlabel: str,
    ylabel: str,
    ax=None,
    logx: bool = False,
    legend: str = "best",
) -> plt.Axes:
    """Lines of ``{label: (mean, std)}`` against ``x``, with a +-1 std band (over runs).

    ``legend``: a matplotlib location inside the axes, ``"outside"`` (right of the axes, where
    it hides no curve) or ``"none"``."""
    if ax is None:
        _, ax = plt.subplots(figsize=(3.6, 2.8))
    for label, (mean, std) in series.items():
        mean, std = np.asarray(mean), np.asarray(std)
        (line,) = ax.plot(x, mean, "o-", ms=3.5, lw=1.3, label=label)
        ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2, lw=0)
    if logx:
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(x), [str(v) for v in x])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if legend == "outside":
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    elif legend != "none":
        ax.legend(loc=legend)
    return ax


def significance_heatmap(pvalues: np.ndarray, ax=None, title: str = ""):
    """Pairwise test p-values ``(N, N)`` as a heat map in four classes, as in Książek et al.
    Fig. 2: not significant (NS, p >= 0.05), p < 0.05, p < 0.01, p < 0.001."""
    if ax is None:
        _, ax = plt.subplots(figsize=(3.2, 3.2))
    classes = np.digitize(np.asarray(pvalues), [0.001, 0.01, 0.05])   # 0: <0.001 ... 3: NS
    cmap = mpl.colors.ListedColormap(["#08306b", "#2171b5", "#9ecae1", "#f7f7f7"])
    image = ax.imshow(classes, cmap=cmap, vmin=-0.5, vmax=3.5, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    return image


def significance_legend(fig, image) -> None:
    """Colour bar for :func:`significance_heatmap`, and the axes' meaning (initialisation i
    against initialisation j) written once for the whole grid."""
    bar = fig.colorbar(image, ax=fig.axes, ticks=[0, 1, 2, 3], shrink=0.8)
    bar.ax.set_yticklabels(["p < 0.001", "p < 0.01", "p < 0.05", "NS"])
    fig.supxlabel("initialisation j", fontsize=9)
    fig.supylabel("initialisation i", fontsize=9)
