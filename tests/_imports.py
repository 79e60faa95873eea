"""What a module imports at its top level, read from its source (nothing is imported)."""

import ast
import os


def top_level_import_roots(module):
    """The first dotted part of every module `module` imports outside functions ('' for `from . import x`)."""
    with open(module.__file__, encoding="utf-8") as file:
        tree = ast.parse(file.read())
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    names = [a.name for n in top if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in top if isinstance(n, ast.ImportFrom)]
    return [name.split(".")[0] for name in names]


def package_imports(package_dir):
    """{module: the package's modules it imports}, for every module under `package_dir`, read from the source.

    Counts imports anywhere in a module (also inside functions) and
    `importlib.import_module("<package>....")` calls with a literal name;
    `from package.sub import name` counts `package.sub.name` when that is a
    module, else `package.sub`.
    """
    root = os.path.basename(os.path.normpath(package_dir))
    paths = {}
    for folder, _, files in os.walk(package_dir):
        for file in files:
            if file.endswith(".py"):
                parts = os.path.relpath(os.path.join(folder, file[:-3]), os.path.dirname(package_dir)).split(os.sep)
                paths[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = os.path.join(folder, file)
    graph = {}
    for module, path in paths.items():
        with open(path, encoding="utf-8") as file:
            tree = ast.parse(file.read())
        package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
        targets = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
                source = ".".join(base + ([node.module] if node.module else []))
                targets.update(
                    f"{source}.{alias.name}" if f"{source}.{alias.name}" in paths else source for alias in node.names
                )
            elif (
                isinstance(node, ast.Call)
                and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                targets.add(str(node.args[0].value))
        graph[module] = {t for t in targets if t in paths and t != module and t.split(".")[0] == root}
    return graph


def import_cycles(graph):
    """Every cycle of `graph` found by a depth-first search, each as a list of modules (empty if none)."""
    cycles, done = [], set()

    def visit(module, path):
        if module in path:
            cycles.append(path[path.index(module) :] + [module])
            return
        if module in done:
            return
        for target in sorted(graph[module]):
            visit(target, path + [module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    return cycles
