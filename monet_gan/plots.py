"""PNG figures: grids of images (photo / painted / reconstructed) and loss curves.

Figures are drawn with matplotlib's object interface on the Agg canvas, never through pyplot, so
nothing here changes the global backend of a notebook that imports it. Every file is written to a
temporary name in its folder and then renamed, so a reader never sees half a PNG.
"""

import csv
import math
import os

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from monet_gan import files
from monet_gan.errors import UserError

CELL_INCHES = 2.2


def _save_figure(figure, path):
    path = os.fspath(path)
    extension = os.path.splitext(path)[1].lstrip(".").lower() or "png"
    with files.replaced_atomically(path) as temporary_path, open(temporary_path, "wb") as file:
        FigureCanvasAgg(figure)
        figure.savefig(file, format=extension, dpi=100)


def _displayable(image):
    """An image in [-1, 1] (numpy array or tensor, HxWx3 or HxWx1) -> HxWx3 floats in [0, 1]."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"images must be HxWx3, got an array of shape {image.shape}")
    return np.clip((image + 1.0) / 2.0, 0.0, 1.0)


def save_image_grid(rows, path, row_titles=None, column_titles=None):
    """Saves a grid of images in [-1, 1] as a PNG: one list per row, titles optional."""
    rows = [list(row) for row in rows]
    if not rows or not any(rows):
        raise ValueError(f"rows must hold at least one image, got {len(rows)} empty rows")
    columns = max(len(row) for row in rows)
    if row_titles is not None and len(row_titles) != len(rows):
        raise ValueError(f"got {len(row_titles)} row titles for {len(rows)} rows")
    if column_titles is not None and len(column_titles) != columns:
        raise ValueError(f"got {len(column_titles)} column titles for {columns} columns")
    figure = Figure(figsize=(CELL_INCHES * columns, CELL_INCHES * len(rows)), layout="constrained")
    axes = figure.subplots(len(rows), columns, squeeze=False)
    for row_index, row in enumerate(rows):
        for column_index in range(columns):
            axis = axes[row_index][column_index]
            # Ticks and frame off, but the axis kept on so the row title can sit at its left.
            axis.set_xticks([])
            axis.set_yticks([])
            for spine in axis.spines.values():
                spine.set_visible(False)
            if column_index < len(row):
                axis.imshow(_displayable(row[column_index]))
            if column_index == 0 and row_titles is not None:
                axis.set_ylabel(str(row_titles[row_index]))
            if row_index == 0 and column_titles is not None:
                axis.set_title(str(column_titles[column_index]))
    _save_figure(figure, path)


def _read_loss_columns(csv_path):
    """Reads a CSVLogger-style file -> (epochs, {column: values}) of the numeric columns."""
    try:
        with open(csv_path, newline="") as file:
            rows = list(csv.DictReader(file))
    except FileNotFoundError:
        raise UserError(f"loss log not found: {csv_path}") from None
    if not rows or "epoch" not in rows[0]:
        raise UserError(f"{csv_path} has no `epoch` column with rows below it")

    def number(text):
        try:
            return float(text)
        except (TypeError, ValueError):
            return math.nan

    epochs = [number(row["epoch"]) for row in rows]
    columns = {}
    for name in rows[0]:
        # The learning rate has its own scale and would flatten the loss curves.
        if name == "epoch" or name in ("lr", "learning_rate"):
            continue
        values = [number(row.get(name)) for row in rows]
        if not all(math.isnan(value) for value in values):
            columns[name] = values
    if not columns:
        raise UserError(f"{csv_path} has no numeric loss columns beside `epoch`")
    return epochs, columns


# Columns of the quality curve (metrics/quality.py): FID and KID of fixed paintings.
QUALITY_COLUMNS = ("fid", "kid")


def save_loss_curves(csv_path, png_path):
    """Plots the columns of a CSV with an `epoch` column as a PNG: losses, accuracies, quality.

    Accuracies (columns ending in "accuracy") get their own panel on a 0-1 scale: a
    discriminator whose real and fake accuracies both sit near 1 has won, which the losses
    alone hide. FID and KID, when logged, get a last panel (FID on the left axis, KID on the
    right: their scales differ by thousands), plotted at the epochs that were evaluated.
    """
    epochs, columns = _read_loss_columns(csv_path)
    quality = {name: columns.pop(name) for name in QUALITY_COLUMNS if name in columns}
    accuracies = {name: values for name, values in columns.items() if name.endswith("accuracy")}
    losses = {name: values for name, values in columns.items() if name not in accuracies}
    panels = [(losses, "loss")] + ([(accuracies, "discriminator accuracy")] if accuracies else [])
    figure = Figure(figsize=(8, 4 * (len(panels) + bool(quality))), layout="constrained")
    axes = figure.subplots(len(panels) + bool(quality), 1, squeeze=False)[:, 0]
    marker = "o" if len(epochs) <= 30 else None
    for axis, (panel_columns, label) in zip(axes, panels):
        for name, values in panel_columns.items():
            axis.plot(epochs, values, label=name, marker=marker, markersize=3)
        axis.set_xlabel("epoch")
        axis.set_ylabel(label)
        axis.grid(True, alpha=0.3)
        axis.legend(loc="best", fontsize="small")
    if accuracies:
        axes[len(panels) - 1].set_ylim(-0.02, 1.02)
    if quality:
        _plot_quality(axes[-1], epochs, quality)
    _save_figure(figure, png_path)


def _plot_quality(axis, epochs, quality):
    """FID on the axis' left scale and KID on a twin right scale, evaluated epochs only."""
    lines = []
    for name, side_axis, color in (("fid", axis, "tab:blue"), ("kid", None, "tab:orange")):
        if name not in quality:
            continue
        if side_axis is None:
            side_axis = axis.twinx() if "fid" in quality else axis
        points = [(epoch, value) for epoch, value in zip(epochs, quality[name]) if math.isfinite(value)]
        lines += side_axis.plot(*zip(*points), marker="o", markersize=3, color=color, label=name.upper())
        side_axis.set_ylabel(f"{name.upper()} (lower is better)")
    axis.set_xlabel("epoch")
    axis.grid(True, alpha=0.3)
    axis.legend(lines, [line.get_label() for line in lines], loc="best", fontsize="small")
