"""Reading a prompt for the offline engine: the colour and theme vocabulary (English and Chinese)
and the traits it yields, plus the seeded hashing every part of the engine draws from.

Determinism: only ``random.Random`` seeded from a BLAKE2 hash of the inputs is used, never the
global RNG (see ``_offline_art``).
"""

from __future__ import annotations

import colorsys
import hashlib
import random
import re
from dataclasses import dataclass

RGB = tuple[int, int, int]

STYLES = ("sketch", "paint", "detail")

COLOR_WORDS: dict[str, RGB] = {
    "red": (214, 48, 49),
    "crimson": (178, 24, 43),
    "orange": (240, 130, 40),
    "amber": (255, 176, 46),
    "yellow": (245, 210, 60),
    "gold": (212, 175, 55),
    "golden": (218, 165, 32),
    "green": (60, 160, 80),
    "emerald": (22, 160, 110),
    "teal": (0, 128, 128),
    "cyan": (40, 200, 220),
    "turquoise": (64, 224, 208),
    "blue": (45, 95, 200),
    "azure": (60, 140, 230),
    "navy": (20, 30, 90),
    "indigo": (75, 40, 130),
    "purple": (128, 60, 170),
    "violet": (150, 90, 210),
    "magenta": (200, 40, 160),
    "pink": (240, 140, 180),
    "brown": (120, 80, 50),
    "white": (240, 240, 235),
    "black": (20, 20, 24),
    "gray": (128, 128, 132),
    "grey": (128, 128, 132),
    "silver": (190, 195, 200),
    "红": (214, 48, 49),
    "橙": (240, 130, 40),
    "黄": (245, 210, 60),
    "金": (212, 175, 55),
    "绿": (60, 160, 80),
    "青": (0, 150, 150),
    "蓝": (45, 95, 200),
    "紫": (128, 60, 170),
    "粉": (240, 140, 180),
    "白": (240, 240, 235),
    "黑": (20, 20, 24),
    "灰": (128, 128, 132),
    "银": (190, 195, 200),
}

THEME_WORDS: dict[str, tuple[str, ...]] = {
    "night": (
        "night",
        "star",
        "stars",
        "starry",
        "space",
        "galaxy",
        "moon",
        "midnight",
        "夜",
        "星",
        "月",
        "宇宙",
    ),
    "sun": (
        "sun",
        "sunny",
        "sunset",
        "sunrise",
        "dawn",
        "dusk",
        "日落",
        "日出",
        "太阳",
        "夕阳",
        "黄昏",
    ),
    "water": (
        "sea",
        "ocean",
        "lake",
        "river",
        "water",
        "wave",
        "waves",
        "beach",
        "海",
        "湖",
        "河",
        "水",
        "浪",
    ),
    "mountain": (
        "mountain",
        "mountains",
        "hill",
        "hills",
        "peak",
        "peaks",
        "alps",
        "cliff",
        "山",
        "峰",
    ),
    "city": (
        "city",
        "building",
        "buildings",
        "tower",
        "towers",
        "skyline",
        "street",
        "town",
        "城",
        "楼",
        "街",
    ),
    "forest": ("forest", "tree", "trees", "wood", "woods", "jungle", "pine", "森林", "树", "林"),
    "flower": (
        "flower",
        "flowers",
        "garden",
        "rose",
        "roses",
        "bloom",
        "blossom",
        "tulip",
        "花",
        "玫瑰",
    ),
}

THEME_COLORS: dict[str, tuple[RGB, ...]] = {
    "night": ((18, 24, 64), (44, 38, 96), (230, 226, 190)),
    "sun": ((250, 160, 60), (236, 90, 70), (255, 214, 120)),
    "water": ((30, 110, 170), (70, 170, 200), (200, 235, 240)),
    "mountain": ((90, 110, 140), (150, 160, 180), (235, 238, 245)),
    "city": ((70, 75, 95), (240, 190, 90), (130, 140, 160)),
    "forest": ((30, 90, 50), (90, 140, 70), (170, 200, 120)),
    "flower": ((230, 90, 140), (250, 200, 80), (120, 180, 90)),
}

DARK_WORDS = ("dark", "night", "midnight", "noir", "shadow", "gloomy", "暗", "夜")
LANDSCAPE = ("mountain", "water", "city", "forest", "sun")

_TOKEN = re.compile(r"[a-z0-9]+|[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]+")


def _digest(*parts: object) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(repr(part).encode("utf-8"))
        h.update(b"\x00")
    return h.digest()


def _rng(seed: int | bytes) -> random.Random:
    # Pictures, not secrets: a seedable, reproducible generator is exactly what is needed.
    return random.Random(seed)  # noqa: S311


def _has(text: str, tokens: set[str], keyword: str) -> bool:
    # CJK has no spaces: look for the characters anywhere; Latin words must match a whole token.
    return keyword in text if not keyword.isascii() else keyword in tokens


@dataclass(frozen=True)
class Traits:
    themes: tuple[str, ...]
    palette: tuple[RGB, ...]
    dark: bool
    swirl: float  # how strongly the flow field turns, from the prompt hash


def _hue_color(seed_bytes: bytes) -> RGB:
    hue = seed_bytes[0] / 255
    lightness = 0.35 + seed_bytes[1] / 255 * 0.3
    saturation = 0.45 + seed_bytes[2] / 255 * 0.45
    r, g, b = colorsys.hls_to_rgb(hue, lightness, saturation)
    return (round(r * 255), round(g * 255), round(b * 255))


def analyse_prompt(prompt: str, negative: str = "") -> Traits:
    text = prompt.lower()
    neg = negative.lower()
    tokens = set(_TOKEN.findall(text))
    neg_tokens = set(_TOKEN.findall(neg))

    def wanted(keyword: str) -> bool:
        return _has(text, tokens, keyword) and not _has(neg, neg_tokens, keyword)

    themes = tuple(
        theme
        for theme, words in THEME_WORDS.items()
        if any(wanted(w) for w in words) and not any(_has(neg, neg_tokens, w) for w in words)
    )
    palette: list[RGB] = []
    for word, color in COLOR_WORDS.items():
        if wanted(word) and color not in palette:
            palette.append(color)
    for theme in themes:
        palette.extend(c for c in THEME_COLORS[theme] if c not in palette)
    # Every other word still colours the picture, so any two prompts look different.
    known = set(COLOR_WORDS) | {w for words in THEME_WORDS.values() for w in words}
    for word in sorted(tokens - known - neg_tokens):
        if len(palette) >= 6:
            break
        palette.append(_hue_color(_digest("word", word)))
    base = _digest("prompt", text, neg)
    i = 0
    while len(palette) < 5:
        palette.append(_hue_color(base[i * 3 : i * 3 + 3]))
        i += 1
    dark = "night" in themes or any(wanted(w) for w in DARK_WORDS)
    if any(_has(neg, neg_tokens, w) for w in DARK_WORDS):
        dark = False
    return Traits(themes, tuple(palette), dark, 0.5 + base[15] / 255 * 2.5)
