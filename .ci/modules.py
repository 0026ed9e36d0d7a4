#!/usr/bin/env python3
"""The module graph of each crate's non-test sources, and any import cycle in it.

    python3 .ci/modules.py [--graph] CRATE_DIR...    (CI: every crate; exit 1 on a cycle)

A module depends on the module that *defines* what it names: `use crate::TenantId` is an arrow
to `id.rs`, not to `lib.rs`, which only re-exports it (re-exports are followed, as
`cargo modules` does). Declaring a child module (`mod x;`) is containment, not an arrow.
`#[cfg(test)]` modules are test code and left out. Text-based, for code written the way this
workspace writes it (rustfmt'd `use` items, no glob imports between modules): a reader's check
that every arrow points down, not a Rust parser.
"""
import os
import re
import sys


def strip_comments_and_strings(text):
    text = re.sub(r'/\*.*?\*/', ' ', text, flags=re.S)
    text = re.sub(r'r#*"(?:.|\n)*?"#*', '""', text)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    text = re.sub(r"'(?:\\.|[^'\\])'", "' '", text)
    return re.sub(r'//[^\n]*', '', text)


def without_test_modules(text):
    """Drops `#[cfg(test)] mod x { .. }` blocks; returns the text and the `mod x;` names."""
    files = []
    out, at = [], 0
    pattern = re.compile(r'#\[cfg\(test\)\]\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*([{;])')
    for m in pattern.finditer(text):
        if m.start() < at:
            continue
        out.append(text[at:m.start()])
        if m.group(2) == ';':
            files.append(m.group(1))
            at = m.end()
            continue
        depth, i = 1, m.end()
        while depth and i < len(text):
            depth += {'{': 1, '}': -1}.get(text[i], 0)
            i += 1
        at = i
    out.append(text[at:])
    return ''.join(out), files


def split_top(body):
    items, depth, cur = [], 0, ''
    for ch in body:
        depth += {'{': 1, '}': -1}.get(ch, 0)
        if ch == ',' and depth == 0:
            items.append(cur)
            cur = ''
        else:
            cur += ch
    items.append(cur)
    return [item.strip() for item in items if item.strip()]


def use_paths(prefix, body):
    """`a::{b, c::{d as e}}` -> [(path, name it binds)]."""
    out = []
    for item in split_top(body):
        m = re.match(r'^((?:\w+::)*)\{(.*)\}$', item, re.S)
        if m:
            out += use_paths(prefix + [p for p in m.group(1).split('::') if p], m.group(2))
            continue
        path, _, alias = item.partition(' as ')
        segments = prefix + [p for p in path.strip().split('::') if p]
        if segments and segments[-1] == 'self':
            segments = segments[:-1]
        if segments and segments[-1] != '*':
            out.append((segments, alias.strip() or segments[-1]))
    return out


class Crate:
    def __init__(self, src):
        self.modules = {}  # 'crate::a::b' -> text
        self.reexports = {}  # module -> {name: (path, from module)}
        self.uses = {}  # module -> [path]
        test_files = set()
        for root, dirs, files in os.walk(src):
            dirs.sort()
            for f in sorted(files):
                if not f.endswith('.rs'):
                    continue
                path = os.path.join(root, f)
                rel = os.path.relpath(path, src)[:-3].split(os.sep)
                if rel[-1] in ('mod', 'lib', 'main'):
                    rel = rel[:-1]
                module = '::'.join(['crate'] + rel)
                text, tests = without_test_modules(strip_comments_and_strings(open(path).read()))
                test_files.update(f'{module}::{name}' for name in tests)
                self.modules[module] = text
        for test in test_files:
            for module in list(self.modules):
                if module == test or module.startswith(test + '::'):
                    del self.modules[module]
        for module, text in self.modules.items():
            self.reexports[module] = {}
            self.uses[module] = []
            for m in re.finditer(r'(\bpub(?:\([^)]*\))?\s+)?\buse\s+([^;]+);', text):
                body = m.group(2).strip()
                for path, name in use_paths([], body):
                    self.uses[module].append(path)
                    if m.group(1):
                        self.reexports[module][name] = path
            for m in re.finditer(r'(?<![\w:])((?:crate|super|self)(?:::\w+)+)', text):
                self.uses[module].append(m.group(1).split('::'))

    def resolve(self, module, path, seen=()):
        """The module that defines what `path`, written in `module`, names (None: not ours)."""
        if (module, tuple(path)) in seen:
            return None
        seen = seen + ((module, tuple(path)),)
        parts = module.split('::')
        if path[0] == 'crate':
            at, rest = ['crate'], path[1:]
        elif path[0] in ('super', 'self'):
            at, rest = parts[:], path[:]
            while rest and rest[0] in ('super', 'self'):
                if rest[0] == 'super':
                    at = at[:-1]
                rest = rest[1:]
        elif '::'.join(parts + [path[0]]) in self.modules:
            at, rest = parts, path
        elif path[0] in self.reexports.get(module, {}) and len(path) > 1:
            return self.resolve(module, self.reexports[module][path[0]] + path[1:], seen)
        else:
            return None
        while rest and '::'.join(at + [rest[0]]) in self.modules:
            at, rest = at + [rest[0]], rest[1:]
        here = '::'.join(at)
        if rest and rest[0] in self.reexports.get(here, {}):
            target = self.reexports[here][rest[0]]
            return self.resolve(here, target + rest[1:], seen) or here
        return here

    def graph(self):
        graph = {}
        for module, paths in self.uses.items():
            deps = set()
            for path in paths:
                target = self.resolve(module, path)
                if target and target != module and not target.startswith(module + '::'):
                    deps.add(target)
            graph[module] = deps
        return graph


def cycles(graph):
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def main(args):
    show = '--graph' in args
    status = 0
    for crate_dir in [a for a in args if a != '--graph']:
        graph = Crate(os.path.join(crate_dir, 'src')).graph()
        if show:
            for module in sorted(graph):
                print(f'  {module}: {", ".join(sorted(graph[module])) or "-"}')
        found = cycles(graph)
        print(f'{crate_dir}: {len(graph)} modules, ' + (f'CYCLES {found}' if found else 'no cycle'))
        status |= bool(found)
    return status


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
