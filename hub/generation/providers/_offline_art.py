"""Procedural art for the offline engine: pure, synchronous, deterministic Pillow code.

A prompt is read for colour words and themes (night, sun, water, mountain, city, forest, flower;
English and Chinese), the remaining words are hashed into hues, and the seed picks the
composition. The picture is a list of drawing operations ordered coarse to fine (background
wash, big shapes, strokes, small details); each refinement step draws its share of them onto
the canvas, so early previews show the composition and later ones the detail, as in a
diffusion sampler. More steps buy more detail (up to a cap), so the step count matters.

Determinism: only ``random.Random`` seeded from a BLAKE2 hash of the inputs is used (never the
global RNG, never Pillow's ``effect_noise``, which uses C ``rand()``), and PNG/JPEG encoding has
no timestamps, so the same input gives the same bytes.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from PIL import Image, ImageDraw, ImageFilter, ImageOps

from ._offline_motifs import Builder, Op, _value_noise
from ._offline_prompt import RGB, STYLES, Traits, _digest, _rng, analyse_prompt


@dataclass
class Scene:
    """One image being rendered: the canvas plus the operations still to draw."""

    width: int
    height: int
    style: str
    traits: Traits
    canvas: Image.Image
    ops: list[Op]
    noise: Image.Image  # low-res noise for "still denoising" previews
    source: Image.Image | None = None
    strength: float = 1.0
    drawn: int = field(default=0)

    def draw_share(self, step: int, steps: int) -> None:
        """Draw this step's slice of the operations (coarse ones first)."""
        end = len(self.ops) * (step + 1) // steps
        draw = ImageDraw.Draw(self.canvas, "RGBA")
        for op in self.ops[self.drawn : end]:
            op(self.canvas, draw)
        self.drawn = end
        if step == steps - 1:
            self._finish()

    def _finish(self) -> None:
        unit = min(self.width, self.height) / 512
        if self.style == "paint":
            self.canvas = self.canvas.filter(ImageFilter.GaussianBlur(0.7 * unit))
        elif self.style == "detail":
            self.canvas = self.canvas.filter(ImageFilter.UnsharpMask(2, 70, 2))
        vignette = Image.radial_gradient("L").resize(
            (self.width, self.height), Image.Resampling.BILINEAR
        )
        vignette = vignette.point(lambda v: max(0, v - 110) * 90 // 145)
        self.canvas = Image.composite(
            Image.new("RGB", self.canvas.size, (8, 8, 12)), self.canvas, vignette
        )

    def current(self, progress: float) -> Image.Image:
        if self.source is None:
            return self.canvas
        return Image.blend(self.source, self.canvas, self.strength * progress)

    def preview(self, step: int, steps: int, max_side: int) -> bytes:
        progress = (step + 1) / steps
        image = self.current(progress)
        scale = max_side / max(self.width, self.height)
        size = (max(1, round(self.width * scale)), max(1, round(self.height * scale)))
        small = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
        remaining = 1.0 - progress
        if remaining > 0:
            grain = self.noise.resize(size, Image.Resampling.NEAREST).convert("RGB")
            small = Image.blend(small, grain, 0.55 * remaining)
            small = small.filter(ImageFilter.GaussianBlur(1.5 * remaining))
        buf = io.BytesIO()
        small.save(buf, "JPEG", quality=75)
        return buf.getvalue()

    def png(self) -> bytes:
        buf = io.BytesIO()
        self.current(1.0).save(buf, "PNG", compress_level=6)
        return buf.getvalue()


def fit_source(source: Image.Image, size: tuple[int, int]) -> Image.Image:
    return ImageOps.fit(
        ImageOps.exif_transpose(source).convert("RGB"), size, Image.Resampling.LANCZOS
    )


def source_palette(source: Image.Image) -> list[RGB]:
    small = source.convert("RGB").resize((32, 32), Image.Resampling.BILINEAR)
    quantized = small.quantize(3, method=Image.Quantize.MEDIANCUT)
    raw = quantized.getpalette() or []
    return [(raw[i], raw[i + 1], raw[i + 2]) for i in range(0, min(len(raw), 9), 3)]


def build_scene(
    prompt: str,
    negative: str,
    *,
    style: str,
    seed: int,
    width: int,
    height: int,
    steps: int,
    source: Image.Image | None = None,
    strength: float = 1.0,
) -> Scene:
    if style not in STYLES:
        raise ValueError(f"Unknown offline style {style!r}; choose one of {', '.join(STYLES)}.")
    traits = analyse_prompt(prompt, negative)
    if source is not None:
        # img2img keeps the source's colours in the art so the blend looks like one picture.
        traits = Traits(
            traits.themes,
            tuple(source_palette(source)) + traits.palette,
            traits.dark,
            traits.swirl,
        )
    rng = _rng(_digest("scene", prompt, negative, style, seed, width, height))
    builder = Builder(rng, traits, style, width, height, steps)
    ops = builder.build()
    noise = _value_noise(_rng(_digest("noise", seed)), (32, 32), 32)
    return Scene(
        width=width,
        height=height,
        style=style,
        traits=traits,
        canvas=builder.background(),
        ops=ops,
        noise=noise,
        source=source,
        strength=strength,
    )
