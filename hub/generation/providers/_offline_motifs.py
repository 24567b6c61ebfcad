"""The offline engine's drawing operations: colour helpers and the motif builder (sky, sun and
moon, mountains, water, city, forest, flowers, abstract shapes, flow strokes, stars), which turns
a prompt's traits into a list of operations ordered coarse to fine (see ``_offline_art``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from PIL import Image, ImageDraw

from ._offline_prompt import LANDSCAPE, RGB, Traits, _rng

Op = Callable[[Image.Image, ImageDraw.ImageDraw], None]


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def _alpha(c: RGB, a: int) -> tuple[int, int, int, int]:
    return (c[0], c[1], c[2], max(0, min(255, a)))


def _jitter(rng: random.Random, c: RGB, amount: int) -> RGB:
    return (
        max(0, min(255, c[0] + rng.randint(-amount, amount))),
        max(0, min(255, c[1] + rng.randint(-amount, amount))),
        max(0, min(255, c[2] + rng.randint(-amount, amount))),
    )


def _rgb_at(image: Image.Image, x: int, y: int) -> RGB:
    pixel = image.getpixel((x, y))
    if isinstance(pixel, tuple) and len(pixel) >= 3:
        return (int(pixel[0]), int(pixel[1]), int(pixel[2]))
    return (0, 0, 0)


def _gradient(size: tuple[int, int], stops: list[RGB]) -> Image.Image:
    column = Image.new("RGB", (1, 256))
    last = len(stops) - 1
    for y in range(256):
        pos = y / 255 * last
        i = min(int(pos), last - 1)
        column.putpixel((0, y), _mix(stops[i], stops[i + 1], pos - i))
    return column.resize(size, Image.Resampling.BILINEAR)


def _value_noise(rng: random.Random, size: tuple[int, int], cells: int) -> Image.Image:
    grid = Image.new("L", (cells, cells))
    grid.putdata([rng.randrange(256) for _ in range(cells * cells)])
    return grid.resize(size, Image.Resampling.BICUBIC)


class Builder:
    def __init__(
        self,
        rng: random.Random,
        traits: Traits,
        style: str,
        width: int,
        height: int,
        steps: int,
    ) -> None:
        self.rng = rng
        self.t = traits
        self.style = style
        self.w = width
        self.h = height
        self.unit = min(width, height) / 512
        self.area = math.sqrt(width * height) / 512
        self.steps = steps
        # More refinement steps buy more detail, up to a cap.
        self.detail = 0.5 + 0.5 * min(steps, 40) / 40
        self.pal = traits.palette
        self.horizon = round(height * rng.uniform(0.5, 0.68))
        self.sky_limit = self.horizon
        self.graphite: RGB = (40, 38, 45)

    # --- helpers ---------------------------------------------------------------------------

    def color(self, index: int | None = None) -> RGB:
        c = self.pal[index % len(self.pal)] if index is not None else self.rng.choice(self.pal)
        return _mix(c, (10, 12, 30), 0.45) if self.t.dark else c

    def n(self, base: float) -> int:
        return max(1, round(base * self.detail * self.area))

    def shape_fill(self, c: RGB, alpha: int = 255) -> tuple[int, int, int, int] | None:
        return None if self.style == "sketch" else _alpha(c, alpha)

    def shape_outline(self, c: RGB) -> tuple[int, int, int, int] | None:
        if self.style != "sketch":
            return None
        return _alpha(_mix(c, self.graphite, 0.6), 200)

    def line_width(self, base: float) -> int:
        return max(1, round(base * self.unit))

    # --- background ------------------------------------------------------------------------

    def background(self) -> Image.Image:
        size = (self.w, self.h)
        if self.style == "sketch":
            paper = _gradient(size, [(246, 242, 232), (236, 230, 216)])
            wash = _gradient(size, [_mix(self.pal[0], (255, 255, 255), 0.7), (240, 236, 226)])
            return Image.blend(paper, wash, 0.35)
        if self.t.dark:
            stops = [_mix(self.pal[0], (0, 0, 0), 0.75), _mix(self.pal[1], (0, 0, 0), 0.5)]
        else:
            stops = [
                _mix(self.pal[0], (255, 255, 255), 0.45),
                _mix(self.pal[1], (255, 255, 255), 0.25),
                _mix(self.pal[2], (255, 255, 255), 0.1),
            ]
        return _gradient(size, stops)

    # --- composition -----------------------------------------------------------------------

    def build(self) -> list[Op]:
        themes = self.t.themes
        ops: list[Op] = [self.texture_wash()]
        if "sun" in themes:
            ops += self.sun()
        if "night" in themes:
            ops += self.moon()
        if "mountain" in themes:
            ops += self.mountains()
        if "water" in themes:
            ops += self.water()
        elif "mountain" not in themes and any(t in themes for t in LANDSCAPE):
            ops.append(self.ground())
        if "city" in themes:
            ops += self.city()
        if "forest" in themes:
            ops += self.forest()
        if "flower" in themes:
            ops += self.flowers()
        if not any(t in themes for t in (*LANDSCAPE, "flower")):
            ops += self.abstract_shapes()
        ops += self.flow_strokes()
        if "night" in themes:
            ops += self.stars()
        ops += self.sparkles()
        return ops

    def texture_wash(self) -> Op:
        size = (self.w, self.h)
        noise_rng = _rng(self.rng.getrandbits(64))
        cells = self.rng.choice((4, 5, 6, 8))
        tint = self.color(self.rng.randrange(len(self.pal)))
        strength = 70 if self.style != "sketch" else 35

        def op(canvas: Image.Image, _draw: ImageDraw.ImageDraw) -> None:
            mask = _value_noise(noise_rng, size, cells).point(lambda v: v * strength // 255)
            canvas.paste(Image.new("RGB", size, tint), (0, 0), mask)

        return op

    def sun(self) -> list[Op]:
        rng = self.rng
        cx = rng.uniform(0.2, 0.8) * self.w
        cy = rng.uniform(0.3, 0.8) * self.horizon
        r = rng.uniform(0.06, 0.11) * min(self.w, self.h)
        core = self.color(0) if not self.t.dark else (250, 200, 120)
        glow = _mix(core, (255, 240, 200), 0.5)

        def halo(_c: Image.Image, draw: ImageDraw.ImageDraw) -> None:
            for k in range(12, 0, -1):
                rr = r * (1 + k * 0.35)
                draw.ellipse((cx - rr, cy - rr, cx + rr, cy + rr), fill=_alpha(glow, 10))

        def disc(_c: Image.Image, draw: ImageDraw.ImageDraw) -> None:
            draw.ellipse(
                (cx - r, cy - r, cx + r, cy + r),
                fill=self.shape_fill(_mix(core, (255, 255, 230), 0.4)),
                outline=self.shape_outline(core),
                width=self.line_width(2),
            )

        return [halo, disc]

    def moon(self) -> list[Op]:
        rng = self.rng
        cx = rng.uniform(0.15, 0.85) * self.w
        cy = rng.uniform(0.12, 0.35) * self.h
        r = rng.uniform(0.04, 0.07) * min(self.w, self.h)
        light: RGB = (236, 232, 206)

        def op(_c: Image.Image, draw: ImageDraw.ImageDraw) -> None:
            for k in range(6, 0, -1):
                rr = r * (1 + k * 0.5)
                draw.ellipse((cx - rr, cy - rr, cx + rr, cy + rr), fill=_alpha(light, 8))
            draw.ellipse(
                (cx - r, cy - r, cx + r, cy + r),
                fill=self.shape_fill(light),
                outline=self.shape_outline(light),
                width=self.line_width(2),
            )

        return [op]

    def _ridge(self, base_y: float, amplitude: float) -> list[tuple[float, float]]:
        rng = self.rng
        waves = [
            (rng.uniform(1.0, 3.0), rng.uniform(0, math.tau), rng.uniform(0.4, 1.0)),
            (rng.uniform(3.0, 7.0), rng.uniform(0, math.tau), rng.uniform(0.2, 0.5)),
            (rng.uniform(8.0, 17.0), rng.uniform(0, math.tau), rng.uniform(0.05, 0.2)),
        ]
        total = sum(a for _, _, a in waves)
        points: list[tuple[float, float]] = [(0, self.h)]
        samples = 64
        for i in range(samples + 1):
            x = i / samples
            y = sum(a * math.sin(f * math.tau * x + p) for f, p, a in waves) / total
            points.append((x * self.w, base_y - amplitude * (0.5 + 0.5 * y)))
        points.append((self.w, self.h))
        return points

    def mountains(self) -> list[Op]:
        ops: list[Op] = []
        layers = 3
        far: RGB = _mix(self.color(0), (230, 235, 245), 0.5)
        near: RGB = _mix(self.color(1), (20, 25, 40), 0.45)
        for layer in range(layers):
            depth = layer / (layers - 1)
            base_y = self.horizon + self.h * 0.05 * layer
            amplitude = self.h * (0.32 - 0.08 * layer)
            points = self._ridge(base_y, amplitude)
            self.sky_limit = min(self.sky_limit, round(base_y - amplitude))
            c = _mix(far, near, depth)

            def op(
                _canvas: Image.Image,
                draw: ImageDraw.ImageDraw,
                points: list[tuple[float, float]] = points,
                c: RGB = c,
            ) -> None:
                draw.polygon(points, fill=self.shape_fill(c), outline=self.shape_outline(c))
                if self.style == "sketch":
                    draw.line(points[1:-1], fill=self.shape_outline(c), width=self.line_width(2))

            ops.append(op)
        return ops

    def ground(self) -> Op:
        c = _mix(self.color(2), (30, 40, 30), 0.3)
        top = self.horizon

        def op(canvas: Image.Image, draw: ImageDraw.ImageDraw) -> None:
            if self.style == "sketch":
                draw.line(
                    (0, top, self.w, top), fill=self.shape_outline(c), width=self.line_width(2)
                )
                return
            shade = _gradient((self.w, self.h - top), [c, _mix(c, (0, 0, 0), 0.35)])
            canvas.paste(shade, (0, top))

        return op

    def water(self) -> list[Op]:
        rng = self.rng
        top = self.horizon
        deep = _mix(self.color(1), (10, 30, 70), 0.4)
        shallow = _mix(self.color(0), (120, 190, 220), 0.4)
        crest = _mix(shallow, (255, 255, 255), 0.6)

        def body(canvas: Image.Image, draw: ImageDraw.ImageDraw) -> None:
            if self.style == "sketch":
                draw.line(
                    (0, top, self.w, top), fill=self.shape_outline(deep), width=self.line_width(2)
                )
                return
            canvas.paste(_gradient((self.w, self.h - top), [shallow, deep]), (0, top))

        waves: list[tuple[float, float, float]] = []
        for _ in range(self.n(140)):
            y = top + (rng.random() ** 1.6) * (self.h - top)
            waves.append((rng.uniform(-0.05, 1.0) * self.w, y, rng.uniform(0.02, 0.08) * self.w))

        def crests(_canvas: Image.Image, draw: ImageDraw.ImageDraw) -> None:
            for x, y, length in waves:
                depth = (y - top) / max(1, self.h - top)
                width = self.line_width(1 + 2 * depth)
                dy = length * 0.08
                draw.arc(
                    (x, y - dy, x + length * (0.5 + depth), y + dy),
                    200,
                    340,
                    fill=_alpha(crest if self.style != "sketch" else self.graphite, 150),
                    width=width,
                )

        return [body, crests]

    def city(self) -> list[Op]:
        rng = self.rng
        base = self.horizon + round(self.h * 0.04)
        buildings: list[tuple[float, float, float, RGB]] = []
        x = -rng.uniform(0, 0.05) * self.w
        while x < self.w:
            bw = rng.uniform(0.04, 0.11) * self.w
            bh = rng.uniform(0.12, 0.45) * self.h
            buildings.append((x, base - bh, bw, _mix(self.color(), (30, 30, 45), 0.55)))
            x += bw * rng.uniform(0.85, 1.1)
        self.sky_limit = min(self.sky_limit, round(min(b[1] for b in buildings)))
        lit: RGB = (250, 214, 120) if self.t.dark else (200, 215, 235)
        windows: list[tuple[float, float, float]] = []
        for bx, by, bw, _ in buildings:
            size = max(2.0, bw / 8)
            for _ in range(self.n(10)):
                windows.append(
                    (bx + rng.uniform(0.1, 0.8) * bw, rng.uniform(by + size, base - size), size)
                )

        def blocks(_canvas: Image.Image, draw: ImageDraw.ImageDraw) -> None:
            for bx, by, bw, c in buildings:
                draw.rectangle(
                    (bx, by, bx + bw, base + self.h),
                    fill=self.shape_fill(c),
                    outline=self.shape_outline(c),
                    width=self.line_width(1.5),
                )

        def lights(_canvas: Image.Image, draw: ImageDraw.ImageDraw) -> None:
            for wx, wy, size in windows:
                draw.rectangle((wx, wy, wx + size, wy + size * 1.3), fill=_alpha(lit, 200))

        return [blocks, lights]

    def forest(self) -> list[Op]:
        rng = self.rng
        trees: list[tuple[float, float, float, RGB]] = []
        for _ in range(self.n(45)):
            depth = rng.random()
            x = rng.uniform(-0.05, 1.05) * self.w
            y = self.horizon + depth * (self.h - self.horizon) * 0.8
            size = (0.05 + depth * 0.12) * self.h
            trees.append((x, y, size, _mix(self.color(), (10, 40, 20), 0.5 + 0.3 * depth)))
        trees.sort(key=lambda t: t[1])
        ops: list[Op] = []
        chunk = max(1, len(trees) // 4)
        for start in range(0, len(trees), chunk):
            group = trees[start : start + chunk]

            def op(
                _canvas: Image.Image,
                draw: ImageDraw.ImageDraw,
                group: list[tuple[float, float, float, RGB]] = group,
            ) -> None:
                for x, y, size, c in group:
                    draw.line(
                        (x, y, x, y - size * 0.3), fill=(70, 50, 30), width=self.line_width(2)
                    )
                    for tier in range(3):
                        ty = y - size * (0.15 + tier * 0.28)
                        half = size * (0.32 - tier * 0.08)
                        draw.polygon(
                            [(x - half, ty), (x + half, ty), (x, ty - size * 0.45)],
                            fill=self.shape_fill(c),
                            outline=self.shape_outline(c),
                        )

            ops.append(op)
        return ops

    def flowers(self) -> list[Op]:
        rng = self.rng
        blooms: list[tuple[float, float, float, RGB]] = []
        for _ in range(self.n(30)):
            x = rng.uniform(0.05, 0.95) * self.w
            y = rng.uniform(0.35, 0.95) * self.h
            r = rng.uniform(0.02, 0.06) * min(self.w, self.h) * (0.5 + y / self.h)
            blooms.append((x, y, r, self.color()))
        blooms.sort(key=lambda b: b[1])

        def stems(_canvas: Image.Image, draw: ImageDraw.ImageDraw) -> None:
            for x, y, r, _ in blooms:
                draw.line(
                    (x, y, x + r * 0.3, self.h), fill=(60, 120, 60, 200), width=self.line_width(2)
                )

        def heads(_canvas: Image.Image, draw: ImageDraw.ImageDraw) -> None:
            for x, y, r, c in blooms:
                for k in range(6):
                    a = k / 6 * math.tau
                    px, py = x + math.cos(a) * r * 0.8, y + math.sin(a) * r * 0.8
                    draw.ellipse(
                        (px - r * 0.55, py - r * 0.55, px + r * 0.55, py + r * 0.55),
                        fill=self.shape_fill(c, 220),
                        outline=self.shape_outline(c),
                    )
                draw.ellipse(
                    (x - r * 0.35, y - r * 0.35, x + r * 0.35, y + r * 0.35),
                    fill=(250, 210, 80, 255),
                )

        return [stems, heads]

    def abstract_shapes(self) -> list[Op]:
        rng = self.rng
        shapes: list[tuple[str, float, float, float, RGB, int]] = []
        for _ in range(self.n(24)):
            kind = rng.choice(("disc", "disc", "ring", "rect"))
            x, y = rng.uniform(0, 1) * self.w, rng.uniform(0, 1) * self.h
            r = rng.uniform(0.04, 0.22) * min(self.w, self.h)
            shapes.append((kind, x, y, r, self.color(), rng.randint(90, 200)))
        shapes.sort(key=lambda s: -s[3])  # big shapes first: composition before detail
        ops: list[Op] = []
        chunk = max(1, len(shapes) // 4)
        for start in range(0, len(shapes), chunk):
            group = shapes[start : start + chunk]

            def op(
                _canvas: Image.Image,
                draw: ImageDraw.ImageDraw,
                group: list[tuple[str, float, float, float, RGB, int]] = group,
            ) -> None:
                for kind, x, y, r, c, a in group:
                    box = (x - r, y - r, x + r, y + r)
                    if kind == "disc":
                        draw.ellipse(box, fill=self.shape_fill(c, a), outline=self.shape_outline(c))
                    elif kind == "ring":
                        draw.ellipse(box, outline=_alpha(c, a), width=self.line_width(r / 12))
                    else:
                        draw.rectangle(
                            (x - r, y - r * 0.6, x + r, y + r * 0.6),
                            fill=self.shape_fill(c, a // 2),
                            outline=self.shape_outline(c),
                        )

            ops.append(op)
        return ops

    def flow_strokes(self) -> list[Op]:
        """Strokes that follow a noise-driven flow field, coloured from what lies beneath."""
        rng = self.rng
        field_size = 24
        angles = _value_noise(_rng(rng.getrandbits(64)), (field_size, field_size), 5)
        flow = angles.tobytes()
        swirl = self.t.swirl
        base = {"sketch": 260, "paint": 520, "detail": 650}[self.style]
        count = self.n(base)
        length = {"sketch": 14, "paint": 6, "detail": 12}[self.style]
        seg = {"sketch": 5.0, "paint": 7.0, "detail": 4.0}[self.style] * self.unit
        width = {"sketch": 1.0, "paint": 7.0, "detail": 1.6}[self.style]
        alpha = {"sketch": 120, "paint": 100, "detail": 150}[self.style]
        starts = [
            # Later strokes are thinner: detail arrives in the last steps.
            (rng.random() * self.w, rng.random() * self.h, rng.random(), 1.0 - 0.5 * i / count)
            for i in range(count)
        ]
        ops: list[Op] = []
        per = max(1, math.ceil(len(starts) / max(6, self.steps)))
        for b in range(0, len(starts), per):
            group = starts[b : b + per]

            def op(
                canvas: Image.Image,
                draw: ImageDraw.ImageDraw,
                group: list[tuple[float, float, float, float]] = group,
            ) -> None:
                for x0, y0, shade, scale in group:
                    points = [(x0, y0)]
                    x, y = x0, y0
                    for _ in range(length):
                        fx = min(field_size - 1, max(0, int(x / self.w * field_size)))
                        fy = min(field_size - 1, max(0, int(y / self.h * field_size)))
                        angle = flow[fy * field_size + fx] / 255 * math.tau * swirl
                        x += math.cos(angle) * seg
                        y += math.sin(angle) * seg
                        points.append((x, y))
                    px = min(self.w - 1, max(0, int(x0)))
                    py = min(self.h - 1, max(0, int(y0)))
                    under = _rgb_at(canvas, px, py)
                    if self.style == "sketch":
                        c = _mix(self.graphite, under, 0.3 * shade)
                    else:
                        accent = self.pal[int(shade * len(self.pal)) % len(self.pal)]
                        mix = (0.1 if self.style == "paint" else 0.25) + 0.2 * shade
                        c = _mix(under, accent, mix)
                    draw.line(
                        points,
                        fill=_alpha(c, alpha),
                        width=self.line_width(width * scale),
                        joint="curve",
                    )

            ops.append(op)
        return ops

    def stars(self) -> list[Op]:
        rng = self.rng
        limit = max(1, self.sky_limit - round(self.h * 0.03))
        points = [
            (rng.random() * self.w, rng.random() * limit, rng.uniform(0.6, 2.2) * self.unit)
            for _ in range(self.n(160))
        ]

        def op(_canvas: Image.Image, draw: ImageDraw.ImageDraw) -> None:
            for x, y, r in points:
                draw.ellipse((x - r, y - r, x + r, y + r), fill=(255, 250, 225, 220))

        return [op]

    def sparkles(self) -> list[Op]:
        if self.style == "sketch":
            return []
        rng = self.rng
        dots = [
            (
                rng.random() * self.w,
                rng.random() * self.h,
                rng.uniform(0.5, 1.8) * self.unit,
                _jitter(rng, self.color(), 30),
            )
            for _ in range(self.n(120 if self.style == "detail" else 40))
        ]

        def op(_canvas: Image.Image, draw: ImageDraw.ImageDraw) -> None:
            for x, y, r, c in dots:
                draw.ellipse(
                    (x - r, y - r, x + r, y + r), fill=_alpha(_mix(c, (255, 255, 255), 0.5), 170)
                )

        return [op]
