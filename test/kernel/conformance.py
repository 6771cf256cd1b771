"""Jupyter's own conformance suite (jupyter_kernel_test) against the QuantLab kernel, every test enabled.

Run by test/kernel/conformance.test.ts, which installs the kernelspec into a temporary prefix and puts
it on JUPYTER_PATH; by hand: `quantlab kernel install --prefix /tmp/ql && JUPYTER_PATH=/tmp/ql/share/jupyter
python3 test/kernel/conformance.py`.
"""
import unittest

import jupyter_kernel_test


class QuantLabKernelTests(jupyter_kernel_test.KernelTests):
    kernel_name = "quantlab"
    language_name = "typescript"
    file_extension = ".ts"

    code_hello_world = 'console.log("hello, world")'
    code_stderr = 'console.error("oops")'

    completion_samples = [
        {"text": "Math.ma", "matches": {"max"}},
        {"text": "const zebraCount = 1; zebraC", "matches": {"zebraCount"}},
        {"text": "%ti", "matches": {"%time"}},
    ]

    complete_code_samples = ["1 + 1", "const x = 1;", "function f() { return 1; }", "%who"]
    incomplete_code_samples = ["function f() {", "const a = [1,", "if (true) {\n  1"]
    invalid_code_samples = ["1 +* 2)", "const = ;", "}"]

    code_page_something = "Math.max?"

    code_generate_error = 'throw new Error("boom")'

    code_execute_result = [
        {"code": "1 + 2", "result": "3"},
        {"code": "'a' + 'b'", "result": "'ab'"},
        {"code": "[1, 2].map((x) => x * 10)", "result": "[ 10, 20 ]"},
        {"code": "html`<b>bold</b>`", "mime": "text/html", "result": "<b>bold</b>"},
    ]

    code_display_data = [
        {"code": "display(html`<i>hi</i>`)", "mime": "text/html"},
        {"code": "display(md`# Title`)", "mime": "text/markdown"},
        {"code": 'display(svg`<svg xmlns="http://www.w3.org/2000/svg"></svg>`)', "mime": "image/svg+xml"},
    ]

    supported_history_operations = ("tail", "range", "search")
    code_history_pattern = "1 + ?"

    code_inspect_sample = "Math.max"

    code_clear_output = "clearOutput()"


if __name__ == "__main__":
    unittest.main(verbosity=2)
