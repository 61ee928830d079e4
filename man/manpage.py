#!/usr/bin/env python3
"""man/manpage.py: section 3 man pages from weft's public headers.

The headers are the documentation; this turns them into one page per family, so
the text exists once. From each header:

  NAME         the first sentence of its top comment
  SYNOPSIS     #include <weft.h>, the public prototypes, how to link
  DESCRIPTION  the rest of the top comment
  TYPES, CONSTANTS AND MACROS, FUNCTIONS
               each public declaration (names without a weft__ / WEFT__ prefix)
               with the comment above it; "/* ---- title ---- */" comments become
               subsections, and a section titled "private ..." is left out
  SEE ALSO     weft(3) and the other families the text names

include/weft/<family>.h gives weft_<family>.3; weft.h and weft/common.h together give
weft.3, the overview: what every family shares, and the list of families. A header
with no public declaration (a layout the inline fast paths embed) gives no page.

    manpage.py --outdir DIR --version X.Y.Z HEADER...      write the pages
    manpage.py --check INCLUDEDIR [--extra HEADER...] --pages DIR
        every header with public declarations has its page in DIR, and every public
        function a comment

Standard library only.
"""
import argparse
import os
import re
import sys

# Plumbing macros of common.h: how the headers are written, not what they offer.
PLUMBING = {"WEFT_API", "WEFT_INLINE", "WEFT_HAVE_INLINE", "WEFT_ATOMIC", "WEFT_BEGIN_DECLS",
            "WEFT_END_DECLS"}
# Conditional blocks whose contents are not the C interface: the inline bodies (the
# prototypes above them are what a caller sees) and C++-only spellings.
SKIPPED_IFS = {"WEFT_HAVE_INLINE", "__cplusplus"}


class Decl:
    def __init__(self, kind, name, code):
        self.kind = kind  # "function", "type", "macro"
        self.name = name
        self.code = code


class Group:
    """Declarations of one kind under one comment, in a subsection."""

    def __init__(self, comment, section):
        self.comment = comment
        self.section = section
        self.decls = []


def private(name):
    return name.lower().startswith("weft__") or name in PLUMBING or not name.lower().startswith("weft")


def comment_text(raw):
    """A /* ... */ comment's text, without the delimiters and the ' * ' margin."""
    lines = raw[2:-2].split("\n")
    out = [lines[0].strip()]
    for line in lines[1:]:
        m = re.match(r"\s*\* ?(.*)$", line)
        out.append((m.group(1) if m else line).rstrip())
    return "\n".join(out).strip("\n")


def parse(path):
    """Returns (top comment, [items]): items are ("section", title, is_private),
    ("comment", text, blank_line_after) and ("decl", Decl, blank_line_before).
    Line-based, for the house style of the headers (one declaration per statement,
    comments above what they describe); not a C parser."""
    src = open(path).read()
    items = []
    top = None
    i, n = 0, len(src)
    skip_depth = 0  # > 0 inside a skipped conditional
    cond = []  # for each open #if: ("skip" or "keep", directive, symbol)
    prev_end = 0  # where the last comment, directive or declaration ended
    while i < n:
        c = src[i]
        if c in " \t\n":
            i += 1
            continue
        if skip_depth and c != "#":  # inside a skipped block only directives matter
            e = src.find("\n", i)
            i = n if e < 0 else e + 1
            continue
        if src.startswith("/*", i):
            j = src.index("*/", i) + 2
            raw = src[i:j]
            prev_end = j
            after = src[j:j + 200]
            blank_after = bool(re.match(r"[ \t]*\n[ \t]*\n", after))
            trailing = not re.match(r"[ \t]*(\n|$)", after)
            i = j
            text = comment_text(raw)
            if top is None and not items:
                top = text
                continue
            m = re.match(r"-{3,}\s*(.*?)\s*-*\s*$", text.split("\n")[0])
            if m:
                title = m.group(1)
                items.append(("section", title, title.lower().startswith("private")))
                rest = "\n".join(text.split("\n")[1:]).strip()
                if rest:
                    items.append(("comment", rest, True))
                continue
            if trailing:
                continue  # a comment inside a line of code: it stays in that code
            items.append(("comment", text, blank_after))
            continue
        if src.startswith("//", i):
            i = src.index("\n", i)
            continue
        if c == "#":
            j = i
            while True:
                e = src.find("\n", j)
                e = n if e < 0 else e
                if src[e - 1] == "\\":
                    j = e + 1
                    continue
                break
            line = src[i:e]
            blank_before = "\n\n" in re.sub(r"[ \t]", "", src[prev_end:i])
            i = prev_end = e
            m = re.match(r"#\s*(ifdef|ifndef|if|else|elif|endif|define|include)\b\s*(.*)",
                         line, re.S)
            if not m:
                continue
            what, rest = m.group(1), m.group(2).strip()
            if what in ("ifdef", "ifndef", "if"):
                sym = rest.split()[0] if rest else ""
                starts_skip = (what == "ifdef" and sym in SKIPPED_IFS) or skip_depth > 0
                cond.append(("skip" if starts_skip else "keep", what, sym))
                if starts_skip:
                    skip_depth += 1
            elif what in ("else", "elif"):
                state, w, sym = cond[-1]
                if skip_depth == 1 and state == "skip" and w == "ifdef" and sym == "__cplusplus":
                    skip_depth -= 1  # the C branch of #ifdef __cplusplus
                    cond[-1] = ("keep", w, sym)
                elif skip_depth == 0 and w == "ifndef" and sym == "__cplusplus":
                    skip_depth += 1
                    cond[-1] = ("skip", w, sym)
            elif what == "endif":
                state, _, _ = cond.pop()
                if state == "skip":
                    skip_depth -= 1
            elif what == "include":
                items.append(("decl", Decl("other", rest, line), blank_before))
            elif what == "define":
                name = re.match(r"\w+", rest).group(0)
                if name.endswith("_H") and rest == name:
                    continue  # the include guard
                items.append(("decl", Decl("macro", name, line.strip()), blank_before))
            continue
        # C code up to its ';' at depth 0 (or a function body's closing brace).
        j, depth = i, 0
        while j < n:
            ch = src[j]
            if src.startswith("/*", j):
                j = src.index("*/", j) + 2
                continue
            if ch in "({[":
                depth += 1
            elif ch in ")}]":
                depth -= 1
                if depth == 0 and ch == "}" and not re.match(r"\s*(\w|;)", src[j + 1:]):
                    j += 1
                    break
            elif ch == ";" and depth == 0:
                j += 1
                break
            elif ch == "\n" and depth == 0 and re.fullmatch(r"\s*WEFT_(BEGIN|END)_DECLS\s*",
                                                             src[i:j]):
                break
            j += 1
        code = src[i:j].strip()
        blank_before = "\n\n" in re.sub(r"[ \t]", "", src[prev_end:i])
        i = prev_end = j
        if re.fullmatch(r"WEFT_(BEGIN|END)_DECLS", code):
            continue
        items.append(("decl", classify(code), blank_before))
    return top or "", items


def classify(code):
    flat = re.sub(r"/\*.*?\*/", "", code, flags=re.S)
    flat = " ".join(flat.split())
    if flat.startswith(("WEFT_API ", "WEFT_INLINE ")):
        name = re.search(r"(\w+)\s*\(", flat.split(None, 1)[1]).group(1)
        proto = re.sub(r"^(WEFT_API|WEFT_INLINE)\s+", "", flat)
        proto = re.sub(r"\s*\(\s*", "(", proto, count=1)
        return Decl("function", name, proto)
    if flat.startswith("typedef"):
        m = re.search(r"\(\s*\*\s*(\w+)\s*\)", flat)  # a function pointer type
        name = m.group(1) if m else re.search(r"(\w+)\s*;$", flat).group(1)
        return Decl("type", name, code)
    if flat.startswith("enum"):
        names = re.findall(r"\b(WEFT_\w+)\s*(?:=|,|})", flat)
        return Decl("macro", names[0] if names else "enum", code)
    m = re.match(r"struct\s+(\w+)\s*;", flat)
    return Decl("other", m.group(1) if m else flat, code)


def groups_of(items):
    """Public declarations grouped under the comment right above them (several
    declarations in a row share it), with the subsection each is in."""
    out = []
    section, section_private = "", False
    pending = None  # a comment right above the next declaration
    last = None  # the group a declaration right below another joins
    for it in items:
        if it[0] == "section":
            section, section_private = it[1], it[2]
            pending = last = None
        elif it[0] == "comment":
            pending = None if it[2] else it[1]  # a comment then a blank line stands alone
            last = None
        else:
            d, blank_before = it[1], it[2]
            if section_private or d.kind == "other" or private(d.name):
                pending = last = None  # the comment was about this private one
                continue
            if pending is None and last is not None and not blank_before and \
                    last.decls[-1].kind == d.kind:
                last.decls.append(d)
                continue
            last = Group(pending, section)
            last.decls.append(d)
            out.append(last)
            pending = None
    return out


# ---- roff ---------------------------------------------------------------------------

def esc(s):
    s = s.replace("\\", "\\e").replace("-", "\\-")
    return re.sub(r"`([^`]+)`", lambda m: "\\fB" + m.group(1) + "\\fR", s)


def line_safe(s):
    return "\\&" + s if s.startswith((".", "'")) else s


def paragraphs(text):
    """roff for a comment: prose is filled, indented blocks (tables, lists, code)
    keep their lines."""
    out = []
    for block in re.split(r"\n\s*\n", text.strip("\n")):
        lines = block.split("\n")
        if not any(l.strip() for l in lines):
            continue
        if any(l.startswith((" ", "\t")) for l in lines[1:]) or all(l.startswith(" ") for l in lines):
            indent = min(len(l) - len(l.lstrip()) for l in lines if l.strip())
            out += [".PP", ".nf", ".RS 2"] + [line_safe(esc(l[indent:])) for l in lines] + \
                   [".RE", ".fi"]
        else:
            out += [".PP"] + [line_safe(esc(l.strip())) for l in lines]
    return out


def code_block(code, bold=False):
    wrap = (lambda l: "\\fB" + esc(l) + "\\fR") if bold else esc
    return [".nf"] + [line_safe(wrap(l)) for l in code.split("\n")] + [".fi"]


def wrap_proto(proto, width=78):
    """A prototype split after its parameters' commas (not those inside a
    function-pointer parameter) to fit the page, continuation lines aligned."""
    if len(proto) <= width:
        return proto
    open_at = proto.index("(") + 1
    params, depth, start = [], 0, open_at
    for k in range(open_at, len(proto)):
        ch = proto[k]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            params.append(proto[start:k + 1].strip())
            start = k + 1
    params.append(proto[start:].strip())
    lines, cur = [], proto[:open_at]
    for part in params:
        sep = "" if cur.endswith("(") or not cur.strip() else " "
        if len(cur) + len(sep) + len(part) > width and cur.strip() and not cur.endswith("("):
            lines.append(cur)
            cur = " " * open_at + part
        else:
            cur += sep + part
    lines.append(cur)
    return "\n".join(lines)


def first_sentence(text):
    flat = " ".join(text.split())
    m = re.match(r"(.*?[.:;])(\s+[A-Z(`]|$)", flat)
    return (m.group(1) if m else flat).rstrip(".:;")


def summary(top, page):
    """The top comment's first paragraph without its "weft/x.h: name," lead-in: the
    NAME line, and what else that paragraph says."""
    paras = re.split(r"\n\s*\n", top.strip(), maxsplit=1)
    head = " ".join(paras[0].split())
    head = re.sub(r"^[\w/.]+\.h:\s*", "", head)
    head = re.sub(r"^%s[,:]\s*" % re.escape(page), "", head)
    name = first_sentence(head)
    rest = head[len(name):].lstrip(".:; ")
    return name, rest, paras[1] if len(paras) > 1 else ""


def render(page, version, parts, families, all_pages):
    """parts: [(header name, top comment, items)] in order; families: for weft(3),
    [(page, one-line summary)]."""
    out = ['.\\" Generated from the weft headers by man/manpage.py; edit the headers.']
    out.append('.TH %s 3 "" "weft %s" "weft manual"' % (page.upper(), version))
    out += [".ad l", ".nh"]  # code-heavy text: no justification, no hyphenation
    name, rest, body = summary(parts[0][1], page)
    out += [".SH NAME", "%s \\- %s" % (page, esc(name))]
    groups = [g for _, _, items in parts for g in groups_of(items)]
    funcs = [d for g in groups for d in g.decls if d.kind == "function"]
    out += [".SH SYNOPSIS", ".nf", "\\fB#include <weft.h>\\fR", ""]
    for d in funcs:
        out += [line_safe(esc(l)) for l in wrap_proto(d.code).split("\n")]
    out += ["", "Link with \\fI\\-lweft\\fR (\\fBpkg\\-config \\-\\-cflags \\-\\-libs weft\\fR)."]
    out += [".fi", ".SH DESCRIPTION"]
    more = [re.sub(r"^[\w/.]+\.h:\s*", "", p[1].strip()) for p in parts[1:]]
    text = "\n\n".join(t for t in [rest, body] + more if t.strip())
    out += paragraphs(text)
    if families:
        out += [".SH FAMILIES", "One page for each header under \\fIweft/\\fR:"]
        for fpage, fsum in families:
            out += [".TP", "\\fB%s\\fR(3)" % fpage, esc(fsum)]
    for title, kinds in (("TYPES", ("type",)), ("CONSTANTS AND MACROS", ("macro",)),
                         ("FUNCTIONS", ("function",))):
        gs = [g for g in groups if g.decls[0].kind in kinds]
        if not gs:
            continue
        out.append(".SH " + title)
        section = None
        for g in gs:
            if title == "FUNCTIONS" and g.section and g.section != section and \
                    not g.section.lower().startswith("inline"):
                out.append(".SS " + esc(g.section[0].upper() + g.section[1:]))
                section = g.section
            out.append(".PP")
            for d in g.decls:
                code = wrap_proto(d.code) if d.kind == "function" else d.code
                out += code_block(code, bold=d.kind == "function")
            if g.comment:
                out += [".RS 4"] + paragraphs(g.comment)[1:] + [".RE"]
    if page == "weft":
        seealso = [p for p in all_pages if p != "weft"]
    else:
        # The other families this page's text names (weft_lock, weft_lock_acquire, ...).
        text = " ".join(top + " ".join(it[1] if it[0] == "comment" else it[1].code
                                       for it in items if it[0] in ("comment", "decl"))
                        for _, top, items in parts)
        named = set(re.findall(r"\bweft_\w+", text))
        seealso = ["weft"] + [p for p in all_pages if p not in ("weft", page) and
                              any(m == p or m.startswith(p + "_") for m in named)]
    out += [".SH SEE ALSO", ",\n".join("\\fB%s\\fR(3)" % p for p in seealso)]
    return "\n".join(out) + "\n"


def page_of(path):
    base = os.path.basename(path)
    if base in ("weft.h", "common.h"):
        return "weft"
    return "weft_" + base[:-2]


def has_public(items):
    return any(g.decls for g in groups_of(items))


def write_pages(headers, outdir, version):
    parsed = {h: parse(h) for h in headers}
    pages = {}  # page -> [(header, top, items)]
    for h in headers:
        top, items = parsed[h]
        if os.path.basename(h) == "weft.h" or has_public(items):
            pages.setdefault(page_of(h), []).append((os.path.basename(h), top, items))
    # weft.h first: its top comment is the overview's NAME and opening.
    if "weft" in pages:
        pages["weft"].sort(key=lambda p: p[0] != "weft.h")
    names = sorted(pages, key=lambda p: (p != "weft", p))
    families = [(p, summary(pages[p][0][1], p)[0]) for p in names if p != "weft"]
    for p in names:
        text = render(p, version, pages[p], families if p == "weft" else None, names)
        with open(os.path.join(outdir, p + ".3"), "w") as f:
            f.write(text)
    return names


def check(includedir, extra, pagedir):
    """Fails when a header with public declarations has no page, or a public function
    no comment."""
    bad = []
    headers = [os.path.join(includedir, f) for f in sorted(os.listdir(includedir))
               if f.endswith(".h")] + extra
    for h in headers:
        top, items = parse(h)
        if not has_public(items):
            continue
        page = os.path.join(pagedir, page_of(h) + ".3")
        if not os.path.exists(page):
            bad.append("%s: no man page %s (add the header to man/meson.build)" % (h, page))
        for g in groups_of(items):
            for d in g.decls:
                if d.kind == "function" and not g.comment:
                    bad.append("%s: %s has no comment" % (h, d.name))
        text = open(page).read() if os.path.exists(page) else ""
        for g in groups_of(items):
            for d in g.decls:
                if d.kind == "function" and esc(d.name) not in text:
                    bad.append("%s: %s is missing from %s" % (h, d.name, page))
    for b in bad:
        print(b, file=sys.stderr)
    print("%d headers checked, %d problems" % (len(headers), len(bad)))
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("headers", nargs="*")
    ap.add_argument("--outdir")
    ap.add_argument("--version", default="")
    ap.add_argument("--expect", nargs="*", help="the pages the build declared")
    ap.add_argument("--check", metavar="INCLUDEDIR")
    ap.add_argument("--pages", metavar="DIR")
    ap.add_argument("--extra", nargs="*", default=[], help="generated headers to check too")
    a = ap.parse_args()
    if a.check:
        return check(a.check, a.extra, a.pages)
    made = write_pages(a.headers, a.outdir, a.version)
    if a.expect is not None and sorted(made) != sorted(a.expect):
        print("manpage.py: made %s, the build expects %s" % (sorted(made), sorted(a.expect)),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
