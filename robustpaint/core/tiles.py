"""Changes to a document's layers as the tiles they touched, before and after: what undo keeps instead of whole
states (a stroke at 1024 px touches a few tiles of 64 x 64, where a whole state with the sketch was 70 MB), packed
with zlib where that halves them (flat paint, masks, regions; a photo's tiles stay raw)."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

TILE = 64  # pixels on a side of an undo tile
Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 in image pixels, x1 and y1 exclusive


@dataclass(frozen=True)
class Packed:
    """An array kept for undo: raw, or zlib-compressed when that at least halves it."""

    data: bytes | np.ndarray
    shape: tuple
    dtype: str
    uniform: bool = False  # one colour or value throughout (a blank canvas's tiles): `data` holds one pixel
    packed: bool = True  # False: a raw copy taken on the GUI thread, to be packed (`of`) when it is idle

    @classmethod
    def raw(cls, array: np.ndarray) -> "Packed":
        """A plain copy: all a step costs when it is pushed; `DocumentEdit.pack_steps` packs it afterwards."""
        return cls(np.array(array, copy=True, order="C"), array.shape, array.dtype.str, packed=False)

    @classmethod
    def view(cls, array: np.ndarray) -> "Packed":
        """The array itself, not copied: for a snapshot nobody else will change (a step's state from before)."""
        return cls(array, array.shape, array.dtype.str, packed=False)

    def packed_form(self) -> "Packed":
        return self if self.packed else Packed.of(self.data)

    @classmethod
    def of(cls, array: np.ndarray) -> "Packed":
        array = np.ascontiguousarray(array)
        pixels = array.reshape(array.shape[0] * array.shape[1], -1)  # H x W (x C): one row a pixel
        if len(pixels) and (pixels == pixels[0]).all():
            return cls(pixels[0].copy(), array.shape, array.dtype.str, uniform=True)
        flat = array.reshape(-1)
        # zlib is tried only where neighbours repeat (flat paint, masks, regions): on a photo's tiles it rarely
        # halves them and cost ~0.4 ms a tile, 200 ms at the end of a run at 1024 px.
        if flat.size and np.count_nonzero(flat[1:] == flat[:-1]) * 2 >= flat.size:
            squeezed = zlib.compress(array.tobytes(), 1)
            if len(squeezed) * 2 <= array.nbytes:
                return cls(squeezed, array.shape, array.dtype.str)
        return cls(array.copy(), array.shape, array.dtype.str)

    def unpack(self) -> np.ndarray:
        if self.uniform:
            return np.broadcast_to(self.data, self.shape).astype(self.dtype, copy=True)
        if isinstance(self.data, np.ndarray):
            return self.data.copy()
        return np.frombuffer(zlib.decompress(self.data), self.dtype).reshape(self.shape).copy()

    @property
    def nbytes(self) -> int:
        return self.data.nbytes if isinstance(self.data, np.ndarray) else len(self.data)


@dataclass(frozen=True)
class PackedLayer:
    """A whole layer kept for undo tile by tile (a sketch that appeared, a resized canvas): a blank or flat layer
    costs bytes, not megabytes, and packing it never zlib-compresses a whole 12-MB canvas in one go."""

    tiles: dict  # (row, col) -> Packed
    shape: tuple
    dtype: str

    @classmethod
    def of(cls, array: np.ndarray, pack=None) -> "PackedLayer":
        pack = pack or Packed.of
        h, w = array.shape[:2]
        return cls({tile: pack(array[tile_slices(tile, h, w)]) for tile in tile_grid((0, 0, w, h), h, w)},
                   array.shape, array.dtype.str)

    def unpack(self) -> np.ndarray:
        array = np.empty(self.shape, self.dtype)
        h, w = self.shape[:2]
        for tile, packed in self.tiles.items():
            array[tile_slices(tile, h, w)] = packed.unpack()
        return array

    @property
    def nbytes(self) -> int:
        return sum(p.nbytes for p in self.tiles.values())


def tile_grid(rect: Rect, height: int, width: int):
    """The (row, column) of each tile that `rect` overlaps, clipped to the layer."""
    x0, y0, x1, y1 = max(rect[0], 0), max(rect[1], 0), min(rect[2], width), min(rect[3], height)
    for ty in range(y0 // TILE, (y1 - 1) // TILE + 1 if y1 > y0 else 0):
        for tx in range(x0 // TILE, (x1 - 1) // TILE + 1 if x1 > x0 else 0):
            yield ty, tx


def tile_slices(tile: tuple[int, int], height: int, width: int) -> tuple[slice, slice]:
    ty, tx = tile
    return slice(ty * TILE, min((ty + 1) * TILE, height)), slice(tx * TILE, min((tx + 1) * TILE, width))


def tiles_rect(tiles, height: int, width: int) -> Rect | None:
    """The rectangle that holds `tiles` (None for none)."""
    tiles = list(tiles)
    if not tiles:
        return None
    return (min(tx for _, tx in tiles) * TILE, min(ty for ty, _ in tiles) * TILE,
            min((max(tx for _, tx in tiles) + 1) * TILE, width), min((max(ty for ty, _ in tiles) + 1) * TILE, height))


@dataclass
class LayerEdit:
    """One layer's change: its changed tiles before and after, or the whole layer where it appeared, went or changed
    size (`whole`: before and after, None for no layer)."""

    name: str
    tiles: dict = field(default_factory=dict)  # (row, col) -> (Packed before, Packed after)
    whole: tuple | None = None

    @classmethod
    def between(cls, name: str, before: np.ndarray | None, after: np.ndarray | None,
                pack=Packed.of, pack_before=None) -> "LayerEdit | None":
        """The tiles that differ between two versions of a layer (None when nothing does); `pack=Packed.raw` leaves
        the packing to `pack_steps`; `pack_before` packs the before side otherwise (`Packed.view`: not copied)."""
        pack_before = pack_before or pack
        if before is None and after is None:
            return None
        if before is None or after is None or before.shape != after.shape:
            return cls(name, whole=(None if before is None else PackedLayer.of(before, pack_before),
                                    None if after is None else PackedLayer.of(after, pack)))
        h, w = before.shape[:2]
        tiles = {}
        for tile in tile_grid((0, 0, w, h), h, w):
            sy, sx = tile_slices(tile, h, w)
            if not np.array_equal(before[sy, sx], after[sy, sx]):
                tiles[tile] = (pack_before(before[sy, sx]), pack(after[sy, sx]))
        return cls(name, tiles) if tiles else None

    def pack_steps(self):
        """Packs raw tiles one at a time (a generator: the undo history runs it while the GUI is idle)."""
        if self.whole is not None:
            for layer in self.whole:
                if layer is not None:
                    for tile, packed in list(layer.tiles.items()):
                        if not packed.packed:
                            layer.tiles[tile] = packed.packed_form()
                            yield
            return
        for tile, (before, after) in list(self.tiles.items()):
            if not (before.packed and after.packed):
                self.tiles[tile] = (before.packed_form(), after.packed_form())
                yield

    @property
    def nbytes(self) -> int:
        if self.whole is not None:
            return sum(p.nbytes for p in self.whole if p is not None)
        return sum(b.nbytes + a.nbytes for b, a in self.tiles.values())

    def apply(self, document, side: int, announce: bool = True) -> Rect | None:
        """Puts the layer back as it was before (`side` 0) or after (1) the change and returns the rectangle
        changed (None: all of it); with `announce` the document says what changed (an edit of several layers
        announces once, after all of them: its layers may change size together)."""
        if self.whole is not None:
            packed = self.whole[side]
            document.layers[self.name] = None if packed is None else packed.unpack()
            document._owned.add(self.name)  # unpacked: a fresh array of the document's own
            rect = None
        else:
            array = document.writable(self.name)
            h, w = array.shape[:2]
            for tile, pair in self.tiles.items():
                sy, sx = tile_slices(tile, h, w)
                array[sy, sx] = pair[side].unpack()
            rect = tiles_rect(self.tiles, h, w)
        if announce:
            document.changed({self.name}, rect)
        return rect
