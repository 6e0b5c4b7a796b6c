"""HTML building blocks of the run report: escaped tables, embedded PNGs, sections, the page (pure)."""

from __future__ import annotations

import base64
from html import escape
from typing import Any

CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{border-bottom:2px solid #ccd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}th,td{border:1px solid #ccd;padding:.25em .6em}
th{background:#eef}td.n{text-align:right;font-variant-numeric:tabular-nums}img{max-width:100%}
.ran{color:#070}.not{color:#a00}.note{color:#555;font-size:.9em}"""


def fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.1f}" if abs(v) >= 100 else f"{v:.2f}" if abs(v) >= 1 else f"{v:.4g}"
    if isinstance(v, dict):
        return "; ".join(f"{k}: {fmt(n)}" for k, n in v.items()) or "—"
    return str(v)


def table(rows: list[dict], columns: list[tuple[str, str]], caption: str = "") -> str:
    """An HTML table: `columns` are (key, header); numbers right-aligned, everything escaped."""
    head = "".join(f"<th>{escape(h)}</th>" for _, h in columns)
    body = "".join(
        "<tr>" + "".join(f'<td class="n">{escape(fmt(r.get(k)))}</td>' if isinstance(r.get(k), (int, float))
                         else f"<td>{escape(fmt(r.get(k)))}</td>" for k, _ in columns) + "</tr>"
        for r in rows)
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    return f"<table>{cap}<tr>{head}</tr>{body}</table>"


def image(png: bytes, alt: str) -> str:
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def section(sid: str, title: str, body: str) -> str:
    return f'<section id="{sid}"><h2>{escape(title)}</h2>{body}</section>'


def page(title: str, subtitle: str, sections: list[str]) -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{CSS}</style></head><body><h1>{escape(title)}</h1><p class=\"note\">{escape(subtitle)}</p>"
            + "".join(sections) + "</body></html>\n")
