"""What a module imports at its top level, read from its source (nothing is imported)."""

import ast


def top_level_import_roots(module):
    """The first dotted part of every module `module` imports outside functions ('' for `from . import x`)."""
    with open(module.__file__, encoding="utf-8") as file:
        tree = ast.parse(file.read())
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    names = [a.name for n in top if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in top if isinstance(n, ast.ImportFrom)]
    return [name.split(".")[0] for name in names]
