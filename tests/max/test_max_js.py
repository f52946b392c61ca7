"""musicgen_bridge.js parses, stays within what Max's js object runs, and passes its Node tests."""

from __future__ import annotations

import re

from tests.max.maxpat import HERE, JS, run_node


def code_only(source: str) -> str:
    """The script without comments and string literals, for syntax checks."""
    source = re.sub(r"/\*.*?\*/", "", source, flags=re.S)
    source = re.sub(r"//[^\n]*", "", source)
    return re.sub(r"\"(?:[^\"\\\n]|\\.)*\"|'(?:[^'\\\n]|\\.)*'", '""', source)


def test_node_check_parses_the_script():
    result = run_node("--check", str(JS))
    assert result.returncode == 0, result.stderr


def test_script_sticks_to_es5_for_maxs_js_object():
    code = code_only(JS.read_text(encoding="utf-8"))
    for pattern, what in ((r"=>", "arrow function"), (r"\b(let|const|class)\s", "ES6 keyword"),
                          (r"`", "template literal"), (r"\.\.\.\w", "spread"),
                          (r"\b(async|await|yield)\b", "ES2017 keyword")):
        found = re.search(pattern, code)
        assert found is None, f"{what} in {JS.name}: {code[found.start() - 40:found.end() + 40]!r}"


def test_exports_only_where_node_has_module():
    source = JS.read_text(encoding="utf-8")
    assert 'if (typeof module !== "undefined" && module.exports)' in source
    assert source.count("module.exports") == 2  # the guard and the assignment, nothing else


def test_node_suite_with_fake_liveapi_passes():
    files = sorted(str(p) for p in HERE.glob("*.test.js"))
    assert files
    result = run_node("--test", *files, timeout=120)
    summary = "\n".join(line for line in result.stdout.splitlines() if line.startswith("# "))
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr
    assert re.search(r"^# pass [1-9]\d*$", summary, re.M), summary
    assert "# fail 0" in summary, summary
