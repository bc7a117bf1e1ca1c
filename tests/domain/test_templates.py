import pytest

from jobmanager.domain.templates import MissingPlaceholder, placeholders, render


def test_fills_input_and_upstream_outputs():
    text = render("Topic {input.topic}; prior: {tasks.research.output}; all: {input}",
                  task_input={"topic": "bees"}, upstream={"research": "notes"})
    assert text == 'Topic bees; prior: notes; all: {"topic": "bees"}'


def test_navigates_json_outputs_and_nested_input():
    assert render("{tasks.a.output.files.0}", task_input={}, upstream={"a": '{"files": ["x.py"]}'}) == "x.py"
    assert render("{input.user.name}", task_input={"user": {"name": "Ada"}}, upstream={}) == "Ada"


def test_other_braces_are_left_alone():
    assert render('Return {"ok": true} for {input.x}', task_input={"x": 1}, upstream={}) == 'Return {"ok": true} for 1'


@pytest.mark.parametrize(
    ("template", "upstream", "fragment"),
    [
        ("{input.missing}", {}, "'missing' not found"),
        ("{tasks.other.output}", {}, "not an upstream dependency"),
        ("{tasks.a.output.k}", {"a": "plain text"}, "text value"),
    ],
)
def test_missing_placeholder_is_a_permanent_error_naming_it(template, upstream, fragment):
    with pytest.raises(MissingPlaceholder) as info:
        render(template, task_input={}, upstream=upstream)
    assert fragment in info.value.message and template in info.value.message
    assert info.value.retryable is False


def test_input_values_cannot_inject_placeholders():
    text = render("{input.x}", task_input={"x": "{tasks.secret.output}"}, upstream={"secret": "S"})
    assert text == "{tasks.secret.output}"


def test_placeholders_lists_them():
    assert placeholders("{input.a} and {tasks.b.output}") == ["input.a", "tasks.b.output"]


@pytest.mark.parametrize("template", ["{input.__class__}", "Hi {input.x.__dict__}", "{tasks.a.output._x}"])
def test_a_stored_template_with_attribute_access_fails_at_render_naming_it(template):
    # (a definition saved before such placeholders were refused)
    with pytest.raises(MissingPlaceholder) as info:
        render(template, task_input={"x": {"__dict__": "leak"}}, upstream={"a": '{"_x": 1}'})
    bad = template[template.index("{"):]
    assert info.value.message.startswith(f"template placeholder {bad} is malformed")
    assert (info.value.retryable, info.value.kind, info.value.details) == (False, "template", {"placeholder": bad[1:-1]})


def test_control_characters_in_values_are_dropped_but_text_layout_kept():
    value = "a\x00b\x1b[31mred\x7f\tc\nd\r\n"
    assert render("<{input.v}>", task_input={"v": value}, upstream={}) == "<ab[31mred\tc\nd\r\n>"
    assert render("{tasks.u.output}", task_input={}, upstream={"u": "x\x07y"}) == "xy"
