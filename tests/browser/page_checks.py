"""What a person would see wrong on a page, checked in the browser: text over text, a matrix
label over another point, a page wider than the screen, and axe-core's accessibility rules.

:func:`assert_no_overlap` and :func:`assert_accessible` take a Playwright page that has
finished loading. axe-core comes from the npm registry (tests/browser/axe/package.json,
installed by ``make test``); without it the accessibility checks are skipped, except when
CI=true. Pages refuse scripts by their Content-Security-Policy: open them in a context made
with ``bypass_csp=True`` (:data:`CONTEXT`), or axe cannot be injected.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.common import ROOT, require

AXE_FOLDER = ROOT / "tests" / "browser" / "axe"
AXE = AXE_FOLDER / "node_modules" / "axe-core" / "axe.min.js"
#: The rules that apply: WCAG 2.0 and 2.1, levels A and AA.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
#: What fails a page; "moderate" and "minor" findings are left to review.
BLOCKING = ("serious", "critical")
#: Options of a browser context for these checks: the pages' CSP would refuse axe's script.
CONTEXT = {"bypass_csp": True}

#: How far two boxes may cross, in CSS pixels, before it counts: glyph boxes of neighbours
#: on a line touch, and rounding puts them a fraction of a pixel into each other.
TOLERANCE = 1.5

# Runs in the page. Every visible piece of text becomes a box: the lines of a text node
# (Range.getClientRects), an SVG <text> or <tspan> as a whole. A box is the text's em box
# (font-size tall, centred on its line), not the line box: with a tight line-height the line
# boxes of two lines of one paragraph cross although their letters do not. Boxes are
# clipped to every ancestor that clips (a .scroll region with overflow:auto, an sr-only
# span): what sticks out of a scrolling region is scrolled to, not drawn over the page.
_MEASURE = r"""
(tolerance) => {
  const SKIP = new Set(['SCRIPT', 'STYLE', 'TEMPLATE', 'NOSCRIPT', 'TITLE', 'SELECT', 'OPTION',
                        'OPTGROUP', 'DATALIST', 'TEXTAREA', 'title', 'desc', 'style', 'script']);
  const clips = new Map();
  function clipOf(element) {
    // Where an element's content may be seen: the intersection of the boxes of the element
    // and its ancestors that clip (null: none does).
    if (clips.has(element)) return clips.get(element);
    let clip = element.parentElement ? clipOf(element.parentElement) : null;
    const style = getComputedStyle(element);
    const clipPath = style.clipPath && style.clipPath !== 'none';
    const clipping = style.overflowX !== 'visible' || style.overflowY !== 'visible' || clipPath
      || (style.clip && style.clip !== 'auto');
    if (clipping && !(element instanceof SVGElement) && element !== document.documentElement
        && element !== document.body) {
      const r = element.getBoundingClientRect();
      const gone = (clipPath && style.clipPath.startsWith('inset(50%'))
        || (style.clip && style.clip.startsWith('rect(0'));
      clip = gone ? {left: 0, top: 0, right: 0, bottom: 0}
        : intersect(clip, {left: r.left, top: r.top, right: r.right, bottom: r.bottom});
    }
    clips.set(element, clip);
    return clip;
  }
  function intersect(a, b) {
    if (a === null) return b;
    if (b === null) return a;
    return {left: Math.max(a.left, b.left), top: Math.max(a.top, b.top),
            right: Math.min(a.right, b.right), bottom: Math.min(a.bottom, b.bottom)};
  }
  function where(element) {
    const parts = [];
    for (let e = element; e && e.nodeType === 1 && parts.length < 5; e = e.parentElement) {
      let part = e.localName;
      if (e.id) { parts.unshift(part + '#' + e.id); break; }
      const cls = typeof e.className === 'string' ? e.className.trim().split(/\s+/)[0] : '';
      if (cls) part += '.' + cls;
      const siblings = e.parentElement ? [...e.parentElement.children].filter(
        s => s.localName === e.localName) : [];
      if (siblings.length > 1) part += ':nth-of-type(' + (siblings.indexOf(e) + 1) + ')';
      parts.unshift(part);
    }
    return parts.join(' > ');
  }
  function hidden(node, element) {
    // A closed <details> shows its <summary> only; Chromium still lays out the rest.
    for (let e = element; e; e = e.parentElement) {
      if (e.localName === 'details' && !e.open) {
        const summary = e.querySelector(':scope > summary');
        if (!summary || !summary.contains(node)) return true;
      }
    }
    return !element.checkVisibility({opacityProperty: true, visibilityProperty: true,
                                     checkOpacity: true, checkVisibilityCSS: true});
  }
  function emBox(rect, element, vertical) {
    // The em box of a line of text, in the page's pixels.
    let size = parseFloat(getComputedStyle(element).fontSize);
    if (element instanceof SVGElement) {
      const m = element.getScreenCTM();
      size *= m ? Math.hypot(m.a, m.b) : 1;
    }
    if (vertical) {
      const mid = (rect.left + rect.right) / 2, half = Math.min(rect.width, size) / 2;
      return {left: mid - half, right: mid + half, top: rect.top, bottom: rect.bottom};
    }
    const mid = (rect.top + rect.bottom) / 2, half = Math.min(rect.height, size) / 2;
    return {left: rect.left, right: rect.right, top: mid - half, bottom: mid + half};
  }
  const page = {x: window.scrollX, y: window.scrollY};
  const texts = [];
  function add(node, element, rect, vertical) {
    let box = emBox(rect, element, vertical);
    box = intersect(clipOf(element), box);
    if (box.right - box.left <= tolerance || box.bottom - box.top <= tolerance) return;
    texts.push({node, element, box,
                text: (node.textContent || '').trim().replace(/\s+/g, ' ').slice(0, 60)});
  }
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const svgTexts = new Set();
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.textContent.trim()) continue;
    const element = node.parentElement;
    if (!element || SKIP.has(element.tagName) || element.closest('select, title, desc')) continue;
    if (element instanceof SVGElement) {
      const text = element.closest('text');
      if (text) svgTexts.add(element);  // the <text> or <tspan> holding it
      continue;
    }
    if (hidden(node, element)) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    for (const rect of range.getClientRects()) add(node, element, rect, false);
  }
  for (const element of svgTexts) {
    if (hidden(element, element)) continue;
    // A <text>'s own lines without its <tspan>s: measured through its characters.
    const own = [...element.childNodes].filter(n => n.nodeType === 3 && n.textContent.trim());
    const m = element.getScreenCTM();
    const vertical = m ? Math.abs(m.b) > Math.abs(m.a) : false;
    if (element.localName === 'tspan' || own.length === element.childNodes.length) {
      add(element, element, element.getBoundingClientRect(), vertical);
      continue;
    }
    // Mixed content (text, then <tspan>s on other lines): the text's own characters.
    const count = own.reduce((n, t) => n + t.textContent.length, 0);
    let box = null;
    for (let i = 0; i < Math.min(count, element.getNumberOfChars()); i++) {
      const e = element.getExtentOfChar(i);
      const corners = [[e.x, e.y], [e.x + e.width, e.y + e.height]].map(([x, y]) => {
        const p = new DOMPoint(x, y).matrixTransform(m);
        return [p.x, p.y];
      });
      const r = {left: Math.min(corners[0][0], corners[1][0]),
                 right: Math.max(corners[0][0], corners[1][0]),
                 top: Math.min(corners[0][1], corners[1][1]),
                 bottom: Math.max(corners[0][1], corners[1][1])};
      box = box === null ? r : {left: Math.min(box.left, r.left), top: Math.min(box.top, r.top),
                                right: Math.max(box.right, r.right),
                                bottom: Math.max(box.bottom, r.bottom)};
    }
    if (box) add({textContent: own.map(t => t.textContent).join('')}, element,
                 {...box, width: box.right - box.left, height: box.bottom - box.top}, vertical);
  }
  function crossing(a, b) {
    const x = Math.min(a.right, b.right) - Math.max(a.left, b.left);
    const y = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
    return x > tolerance && y > tolerance ? [x, y] : null;
  }
  function shown(t) {
    const b = t.box;
    return {text: t.text, where: where(t.element),
            box: [b.left + page.x, b.top + page.y, b.right - b.left, b.bottom - b.top]
              .map(v => Math.round(v * 10) / 10)};
  }
  // Sweep by top edge: only boxes that start before one ends can cross it.
  const order = texts.map((t, i) => i).sort((i, j) => texts[i].box.top - texts[j].box.top);
  const overlaps = [];
  for (let k = 0; k < order.length; k++) {
    const a = texts[order[k]];
    for (let l = k + 1; l < order.length; l++) {
      const b = texts[order[l]];
      if (b.box.top >= a.box.bottom - tolerance) break;
      if (a.node === b.node) continue;
      const by = crossing(a.box, b.box);
      if (by) overlaps.push({a: shown(a), b: shown(b), by: by.map(v => Math.round(v * 10) / 10)});
    }
  }
  // The matrix: a point's labels may sit on its own circle, never on another point's.
  const covered = [];
  for (const svg of document.querySelectorAll('svg.matrix')) {
    const points = [...svg.querySelectorAll('.pt')];  // a <g> or <a> per point
    const circles = points.map(g => [g, g.querySelector('circle')]).filter(([, c]) => c);
    const labels = texts.filter(t => svg.contains(t.element));
    for (const label of labels) {
      const owner = label.element.closest('.pt');
      for (const [g, circle] of circles) {
        if (g === owner) continue;
        // How far the circle reaches into the label's box (a circle, not its bounding box).
        const r = circle.getBoundingClientRect(), b = label.box;
        const cx = (r.left + r.right) / 2, cy = (r.top + r.bottom) / 2, radius = r.width / 2;
        const dx = Math.max(b.left - cx, 0, cx - b.right);
        const dy = Math.max(b.top - cy, 0, cy - b.bottom);
        const by = radius - Math.hypot(dx, dy);
        if (by > tolerance) covered.push({
          label: shown(label), point: g.getAttribute('data-name') || where(g),
          circle: [r.left + page.x, r.top + page.y, r.width, r.height]
            .map(v => Math.round(v * 10) / 10),
          by: Math.round(by * 10) / 10});
      }
    }
  }
  const root = document.documentElement;
  return {texts: texts.length, overlaps, covered,
          scrollWidth: root.scrollWidth, innerWidth: window.innerWidth};
}
"""


def screenshot_path(tmp_path: Path, name: str) -> Path:
    """Where a page check's screenshot goes: the test's tmp_path, or the folder named by
    ``MANYI_SCREENSHOTS`` when set, to look at every page of a run in one place."""
    folder = os.environ.get("MANYI_SCREENSHOTS")
    if not folder:
        return tmp_path / name
    Path(folder).mkdir(parents=True, exist_ok=True)
    return Path(folder) / name


def measure(page, tolerance: float = TOLERANCE) -> dict:
    """The page's texts that cross, matrix labels on others' points, and its widths.

    The window's width is the viewport the page was opened with: a mobile browser may widen
    its layout viewport to fit a page too wide for it, and innerWidth then grows too.
    """
    found = page.evaluate(_MEASURE, tolerance)
    if page.viewport_size is not None:
        found["innerWidth"] = page.viewport_size["width"]
    return found


def overlap_problems(found: dict) -> list[str]:
    """What :func:`measure` found wrong, one line each."""
    problems = []
    if found["scrollWidth"] > found["innerWidth"]:
        problems.append(
            f"the page is {found['scrollWidth']} px wide in a {found['innerWidth']} px window: "
            "it scrolls sideways"
        )
    for o in found["overlaps"]:
        a, b = o["a"], o["b"]
        problems.append(
            f"text {a['text']!r} at {a['where']} {a['box']} and {b['text']!r} at {b['where']} "
            f"{b['box']} cross by {o['by'][0]} x {o['by'][1]} px"
        )
    for c in found["covered"]:
        label = c["label"]
        problems.append(
            f"matrix label {label['text']!r} at {label['where']} {label['box']} covers point "
            f"{c['point']!r} {c['circle']} by {c['by']} px"
        )
    return problems


def assert_no_overlap(page, screenshot: object = None, limit: int = 12) -> None:
    """Fail when text crosses text, a matrix label covers another point, or the page is
    wider than its window; the message lists what and where ([x, y, width, height] in the
    page's CSS pixels), and names ``screenshot``."""
    problems = overlap_problems(measure(page))
    if problems:
        shown = "\n  ".join(problems[:limit])
        more = f"\n  … and {len(problems) - limit} more" if len(problems) > limit else ""
        where = f" (screenshot: {screenshot})" if screenshot else ""
        raise AssertionError(f"{page.url}{where}:\n  {shown}{more}")


def require_axe() -> None:
    install = f"npm ci --prefix {AXE_FOLDER.relative_to(ROOT)}"
    require(AXE.is_file(), f"axe-core is not installed: run make test, or {install}")


def axe_violations(page, blocking: tuple[str, ...] = BLOCKING) -> list[dict]:
    """axe-core's violations of the WCAG A and AA rules with an impact in ``blocking``."""
    require_axe()
    if not page.evaluate("typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE))
    results = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: "
        "['violations']})",
        AXE_TAGS,
    )
    return [v for v in results["violations"] if v.get("impact") in blocking]


def axe_problems(violations: list[dict], nodes: int = 5) -> list[str]:
    lines = []
    for v in violations:
        lines.append(f"{v['impact']} {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"][:nodes]:
            summary = " ".join((node.get("failureSummary") or "").split())
            lines.append(f"    {json.dumps(node['target'])} {node.get('html', '')[:100]}: "
                         f"{summary[:300]}")  # fmt: skip
        if len(v["nodes"]) > nodes:
            lines.append(f"    … and {len(v['nodes']) - nodes} more")
    return lines


def assert_accessible(page, screenshot: object = None) -> None:
    """Fail on any serious or critical axe-core violation, listing rule, target and help."""
    violations = axe_violations(page)
    if violations:
        where = f" (screenshot: {screenshot})" if screenshot else ""
        raise AssertionError(f"{page.url}{where}: axe-core finds\n  "
                             + "\n  ".join(axe_problems(violations)))  # fmt: skip
