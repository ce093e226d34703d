"""core.templating's template class: imported macros see the globals they would see in plain Jinja."""

import jinja2

from core.templating import _Template


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.DictLoader({
        "macros.html": "{% macro greet() %}{{ greeting }}, {{ name|default('nobody') }}{% endmacro %}",
        "page.html": '{% from "macros.html" import greet %}[{{ greet() }}]',
    }))
    env.template_class = _Template
    env.globals["greeting"] = "Hello"
    return env


def test_an_imported_macro_sees_the_environments_globals_render_after_render():
    env = environment()
    assert [env.get_template("page.html").render(name="ignored") for _ in range(3)] == ["[Hello, nobody]"] * 3


def test_an_importer_with_globals_of_its_own_still_passes_them_to_the_import():
    env = environment()
    page = env.from_string('{% from "macros.html" import greet %}[{{ greet() }}]', globals={"name": "Ada"})
    assert page.render() == "[Hello, Ada]"
    assert env.get_template("page.html").render() == "[Hello, nobody]"
