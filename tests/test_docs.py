"""docs/ stays true to the code (issue 9, item 1). The pages derive the math and name, for each
section, the C function, the reference-backend function and the tests; these tests fail when a
name no longer exists where a page says it is, when a link breaks, or when a constant the pages
state (batch-norm momentum and eps, the gradient check's step and tolerance, the optimizers'
defaults) no longer matches the code."""

from __future__ import annotations

import ast
import inspect
import re
import unicodedata
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
TOPICS = [
    "dense.md",
    "relu.md",
    "softmax_cross_entropy.md",
    "batchnorm.md",
    "dropout.md",
    "l2.md",
    "optimizers.md",
    "initialisation.md",
    "gradcheck.md",
    "fused.md",
]

# The user's pages: the detail the top-level README links to (install paths, measurements, the
# Python API), not derivations, so without "In the code" lists; links and names are checked.
GUIDES = ["python.md", "datasets.md", "platforms.md", "performance.md", "results.md", "deploy.md"]

CODE = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
ITEM = re.compile(r"^- (C|Reference|Tests):")
C_DEFINITION = re.compile(r"^(?:static\s+)?(?:const\s+)?\w+[\s*]+(ann_\w+)\s*\(", re.MULTILINE)
NAMED_IN = re.compile(r"((?:`\w+`(?:,\s*|\s+))+)in\s+\[")
# any function defined at the start of a line, static ones (net.c's steps) included
C_ANY_DEFINITION = re.compile(
    r"^(?:static\s+)?(?:inline\s+)?(?:const\s+)?\w+[\s*]+(\w+)\s*\([^;]*?\)\s*\{",
    re.MULTILINE | re.DOTALL,
)


# ---- what the code defines ----------------------------------------------------------------------


@cache
def c_functions(path: Path) -> set[str]:
    """Functions declared or defined at the start of a line of one C file or header."""
    return set(C_DEFINITION.findall(path.read_text(encoding="utf-8")))


@cache
def c_defined(path: Path) -> set[str]:
    """Every function one C file defines (with a body), static or not."""
    return set(C_ANY_DEFINITION.findall(path.read_text(encoding="utf-8")))


def all_c_functions() -> set[str]:
    names: set[str] = set()
    for path in sorted((ROOT / "csrc").glob("*.[ch]")):
        names |= c_functions(path)
    return names


def c_constant_exists(name: str) -> bool:
    pattern = re.compile(rf"(?:#define\s+{name}\b|\b{name}\s*=)")
    return any(
        pattern.search(p.read_text(encoding="utf-8"))
        for p in sorted((ROOT / "csrc").glob("*.[ch]"))
    )


@cache
def python_names(path: Path) -> set[str]:
    """Top-level functions and classes of a Python file, and Class.method for their methods."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        if isinstance(node, ast.ClassDef):
            names |= {
                f"{node.name}.{item.name}"
                for item in node.body
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
            }
    return names


# ---- the checks, on one page's text -------------------------------------------------------------


def code_items(text: str) -> list[dict[str, str]]:
    """The "- C:", "- Reference:", "- Tests:" list items, each with its continuation lines."""
    items: list[dict[str, str]] = []
    open_item = False
    for line in text.splitlines():
        match = ITEM.match(line)
        if match:
            items.append({"kind": match.group(1), "text": line})
            open_item = True
        elif open_item and line.startswith("  ") and line.strip():
            items[-1]["text"] += " " + line.strip()
        else:
            open_item = False
    return items


def linked_files(page: Path, item_text: str, suffixes: tuple) -> list[Path]:
    files = []
    for target in LINK.findall(item_text):
        path = (page.parent / target.split("#")[0]).resolve()
        if path.suffix in suffixes:
            files.append(path)
    return files


def test_exists(spec: str) -> bool:
    file_part, _, name = spec.partition("::")
    path = ROOT / file_part
    return path.is_file() and name.replace("::", ".") in python_names(path)


test_exists.__test__ = False  # a helper, not a test


def check_items(page: Path, text: str) -> list[str]:
    """Each name on an "In the code" line is defined in the file that line links to."""
    problems = []
    for item in code_items(text):
        names = CODE.findall(item["text"])
        if item["kind"] == "C":
            files = linked_files(page, item["text"], (".c", ".h"))
            # every ann_ name, and the names listed right before "in [file]" (net.c's static
            # steps such as layer_backward_sgd; not an argument named in a remark)
            listed = {n for group in NAMED_IN.findall(item["text"]) for n in CODE.findall(group)}
            wanted = [n for n in names if re.fullmatch(r"ann_\w+", n) or n in listed]
            if not files or not wanted:
                problems.append(
                    f"{page.name}: a C line names no function or links no file: {item['text']}"
                )
            for name in wanted:
                if not any(name in c_functions(f) or name in c_defined(f) for f in files):
                    problems.append(
                        f"{page.name}: {name} is not defined in {', '.join(f.name for f in files)}"
                    )
        elif item["kind"] == "Reference":
            files = linked_files(page, item["text"], (".py",))
            wanted = [n for n in names if re.fullmatch(r"[A-Za-z_]\w*(\.\w+)?", n)]
            if not files or not wanted:
                problems.append(
                    f"{page.name}: a Reference line names no function or links "
                    f"no file: {item['text']}"
                )
            for name in wanted:
                if not any(name in python_names(f) for f in files):
                    problems.append(
                        f"{page.name}: {name} is not defined in {', '.join(f.name for f in files)}"
                    )
        else:
            tests = [n for n in names if n.startswith("tests/")]
            if not tests:
                problems.append(f"{page.name}: a Tests line names no test: {item['text']}")
    return problems


@cache
def environment_variables() -> set[str]:
    """The ANN_ environment variables ann reads: quoted names in ann/, csrc/ and setup.py."""
    sources = [*(ROOT / "ann").rglob("*.py"), *(ROOT / "csrc").glob("*.*"), ROOT / "setup.py"]
    found: set[str] = set()
    for path in sources:
        found |= set(re.findall(r'"(ANN_[A-Z0-9_]+)"', path.read_text(encoding="utf-8")))
    return found


def check_names(page: Path, text: str) -> list[str]:
    """Every C function, C constant (or environment variable) and test named anywhere on the
    page exists."""
    problems = []
    c_names = all_c_functions()
    for name in CODE.findall(text):
        if "/" in name and "::" not in name:
            continue  # a path such as csrc/ann.h
        for word in re.findall(r"\bann_\w+\b(?!-)", name):  # not a file name (ann_mlp-0.2.0...)
            if word not in c_names:
                problems.append(f"{page.name}: no C function {word} in csrc/")
        for word in re.findall(r"\bANN_[A-Z0-9_]+\b", name):
            if not c_constant_exists(word) and word not in environment_variables():
                problems.append(f"{page.name}: no C constant {word} in csrc/")
        if re.fullmatch(r"tests/\w+\.py::\w+(::\w+)?", name) and not test_exists(name):
            problems.append(f"{page.name}: no test {name}")
    return problems


def github_anchor(heading: str) -> str:
    """The id GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*]", "", heading.strip()).lower()
    kept = "".join(ch for ch in text if ch in " -_" or unicodedata.category(ch)[0] in "LMN")
    return kept.replace(" ", "-")


def anchors(text: str) -> set[str]:
    seen: dict[str, int] = {}
    result = set()
    in_fence = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
        match = None if in_fence else re.match(r"#{1,6}\s+(.*)", line)
        if match:
            slug = github_anchor(match.group(1))
            result.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
            seen[slug] = seen.get(slug, 0) + 1
    return result


def check_links(page: Path, text: str) -> list[str]:
    """Every relative link names a file of the tree, and every #anchor a heading of it."""
    problems = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto: not checked offline
        file_part, _, fragment = target.partition("#")
        path = (page.parent / file_part).resolve() if file_part else page
        if not path.exists() or (ROOT not in path.parents and path != ROOT):
            problems.append(f"{page.name}: broken link {target}")
            continue
        if fragment and path.suffix == ".md":
            if fragment not in anchors(path.read_text(encoding="utf-8")):
                problems.append(f"{page.name}: {target}: no heading #{fragment} in {path.name}")
    return problems


def check_page(page: Path, text: str) -> list[str]:
    return check_items(page, text) + check_names(page, text) + check_links(page, text)


# ---- the pages ----------------------------------------------------------------------------------


def test_every_topic_has_a_page_linked_from_the_readme():
    readme = (DOCS / "README.md").read_text(encoding="utf-8")
    linked = {target.split("#")[0] for target in LINK.findall(readme)}
    assert {p.name for p in PAGES} - {"README.md"} <= linked, "a page the README does not list"
    for topic in TOPICS + GUIDES:
        assert (DOCS / topic).is_file(), topic
    guides = readme.split("## The user's pages", 1)[1]
    assert all(f"]({g})" in guides for g in GUIDES), "a user's page docs/README.md does not list"
    # the step first, the C API's reference (strides, threads, kernels) last (issue 24)
    reading = readme.split("## Reading order", 1)[1].split("\n## ", 1)[0]
    files = ("csrc/textbook/one_step.c", "csrc/ops.c", "csrc/net.c", "ann/_reference.py")
    order = [reading.index(f"(../{f})") for f in (*files, "csrc/ann.h")]
    assert order == sorted(order), "the reading order is one_step.c, ops.c, net.c, ..., ann.h"
    start = readme.split("## Start here: one step", 1)[1].split("\n## ", 1)[0]
    assert "csrc/ann.h" not in start and "gemm" not in start.lower()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_names_only_what_exists_and_links_resolve(page):
    text = page.read_text(encoding="utf-8")
    assert check_page(page, text) == []


# every page but the index, so a new page (gemm.md, ...) is held to it without being listed
@pytest.mark.parametrize(
    "name", sorted({p.name for p in PAGES} - {"README.md", *GUIDES} | set(TOPICS))
)
def test_each_topic_names_its_c_function_reference_and_tests(name):
    kinds = {item["kind"] for item in code_items((DOCS / name).read_text(encoding="utf-8"))}
    assert kinds == {"C", "Reference", "Tests"}, f"{name}: an 'In the code' list is incomplete"


def test_the_checks_catch_drift():
    """The checks above are not vacuous: a page naming things that do not exist is refused."""
    page = DOCS / "dense.md"
    fake = "\n".join(
        [
            "See [the math](missing.md) and [a section](relu.md#no-such-heading).",
            "- C: `ann_dense_backward`, `ann_no_such_op` in [`csrc/ops.c`](../csrc/ops.c)",
            "- C: `ann_net_train_step` in [`csrc/ops.c`](../csrc/ops.c)",
            "- C: `layer_backward_sgd`, `layer_backward_fused` in "
            "[`csrc/net_fused.c`](../csrc/net_fused.c)",
            "- Reference: `dense_backward`, `RefNet.no_such_method` in "
            "[`ann/_reference.py`](../ann/_reference.py)",
            "- Tests: `tests/test_core_ops.py::test_no_such_test`",
            "Also `ANN_E_NO_SUCH_CODE`.",
        ]
    )
    problems = "\n".join(check_page(page, fake))
    for needle in (
        "missing.md",
        "#no-such-heading",
        "ann_no_such_op is not defined",
        "ann_net_train_step is not defined in ops.c",
        "layer_backward_fused is not defined in net_fused.c",
        "RefNet.no_such_method",
        "no test tests/test_core_ops.py::test_no_such_test",
        "ANN_E_NO_SUCH_CODE",
    ):
        assert needle in problems, needle
    assert "ann_dense_backward" not in problems and "`dense_backward`" not in problems
    assert "layer_backward_sgd is" not in problems


def test_github_anchors():
    assert github_anchor("dW = xᵀ dy") == "dw--xᵀ-dy"
    assert (
        github_anchor("The SGD step folded into the backward pass")
        == "the-sgd-step-folded-into-the-backward-pass"
    )
    assert github_anchor("1. γ and β") == "1-γ-and-β"


# ---- the constants the pages state ---------------------------------------------------------------


def number(text: str) -> float:
    """0.1, 1e-5 or 10^{-5} as a float."""
    power = re.fullmatch(r"10\^\{(-?\d+)\}", text)
    return 10.0 ** int(power.group(1)) if power else float(text.rstrip("f"))


def stated(page: str, pattern: str) -> float:
    text = (DOCS / page).read_text(encoding="utf-8")
    match = re.search(pattern, text)
    assert match, f"{page} no longer states /{pattern}/"
    return number(match.group(1))


def in_source(path: str, pattern: str) -> float:
    match = re.search(pattern, (ROOT / path).read_text(encoding="utf-8"))
    assert match, f"{path} no longer matches /{pattern}/"
    return number(match.group(1))


def test_batchnorm_constants_match_the_code():
    from ann._constants import ANN_BN_EPS, ANN_BN_MOMENTUM

    momentum = in_source("csrc/net.c", r"#define ANN_BN_MOMENTUM ([0-9.e-]+f?)")
    eps = in_source("csrc/net.c", r"#define ANN_BN_EPS ([0-9.e-]+f?)")
    assert stated("batchnorm.md", r"momentum\s+\$m = ([0-9.]+)\$") == momentum == ANN_BN_MOMENTUM
    assert stated("batchnorm.md", r"\$\\varepsilon = (10\^\{-\d+\})\$") == eps == ANN_BN_EPS


def test_gradcheck_constants_match_the_code():
    from ann import _gradcheck

    defaults = inspect.signature(_gradcheck.gradcheck).parameters
    assert stated("gradcheck.md", r"h = (10\^\{-\d+\})") == defaults["h"].default
    assert stated("gradcheck.md", r"h=([0-9e.-]+), \.\.\.\)") == defaults["h"].default
    assert stated("gradcheck.md", r"batch=(\d+), seed=") == defaults["batch"].default
    assert (
        stated("gradcheck.md", r"at most\s+\$(10\^\{-\d+\})\$ \(`TOLERANCE`\)")
        == _gradcheck.TOLERANCE
    )
    assert stated("gradcheck.md", r"f = (10\^\{-\d+\})\\,") == in_source(
        "ann/_gradcheck.py", r"floor = ([0-9e.-]+) \*"
    )
    sizes = re.search(r"by default\s+`([\d-]+)`", (DOCS / "gradcheck.md").read_text("utf-8"))
    from ann import _defaults

    assert sizes and "sizes or _defaults.GRADCHECK_LAYERS" in (
        ROOT / "ann/_gradcheck.py"
    ).read_text(encoding="utf-8")
    assert [int(n) for n in sizes.group(1).split("-")] == list(_defaults.GRADCHECK_LAYERS)


def test_optimizer_defaults_match_network_fit():
    import ann

    defaults = inspect.signature(ann.Network.fit).parameters
    assert stated("optimizers.md", r"momentum \$\\mu = ([0-9.]+)\$") == defaults["momentum"].default
    beta1, beta2 = defaults["betas"].default
    assert stated("optimizers.md", r"\$\\beta_1 = ([0-9.]+)\$") == beta1
    assert stated("optimizers.md", r"\$\\beta_2 = ([0-9.]+)\$") == beta2
    assert stated("optimizers.md", r"\$\\epsilon = (10\^\{-\d+\})\$") == defaults["eps"].default


def test_dropout_seed_of_the_initialisation_page_is_the_codes():
    seed = re.search(
        r"`seed \^ (0x[0-9A-Fa-f]+)`", (DOCS / "initialisation.md").read_text(encoding="utf-8")
    )
    assert seed, "initialisation.md no longer states how the dropout stream is seeded"
    for path in ("csrc/net.c", "ann/_reference.py"):
        code = (ROOT / path).read_text("utf-8")
        assert re.search(rf"seed \^ {seed.group(1)}(ULL)?\b", code), path
