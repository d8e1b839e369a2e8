"""Goal evaluation judged directly: every kind of check, once where it must pass and once
where it must fail, with the exact check names and details a failing trial shows.

The subtle cases of actions are judged in two places, and both are tested here: which
tool calls count as *executed* (``ActionLog``: a call denied by a person never ran, a
call that failed in the tool did not take effect, an approved call ran with approval)
and how ``evaluate`` counts them (a required action done twice, input matched on a
subset of fields, a forbidden action allowed only with a person's approval).
"""

from __future__ import annotations

from typing import Any

import pytest
from helpers import QUIET, make_config, plan_step, respond, tool_use

from harness.core import (
    ActionLog,
    CallModel,
    Effect,
    HumanDecided,
    Machine,
    ModelReplied,
    RequestHuman,
    RunStarted,
    RunTool,
    ToolReturned,
)
from harness.scenario import CheckResult, ExecutedAction, evaluate, resolve
from harness.scenario._model import ActionCheck, AnswerCheck, Goals, WorldCheck

WORLD: dict[str, Any] = {
    "orders": [
        {"id": "A100", "status": "refunded", "total": 25.0, "tags": ["fragile", "gift"]},
        {"id": 7, "status": "shipped", "total": 240.0, "tags": []},
    ],
    "files": {"src/calc.py": "def total(): ...", "src": {"calc.py": "shadowed"}},
    "inbox": [],
    "note": None,
    "count": 0,
}


def goals(**kw: Any) -> Goals:
    return Goals.model_validate(kw)


def world_check(path: str, **test: Any) -> CheckResult:
    (result,) = evaluate(goals(world=[{"path": path, **test}]), WORLD, [], "")
    return result


def act(tool: str, approved: bool = False, **inp: Any) -> ExecutedAction:
    return ExecutedAction(tool, inp, approved)


# --- resolve ------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "want"), [
    ("orders.0.status", "refunded"),
    ("orders.A100.total", 25.0),          # a list segment that is not an index is an id
    ("orders.7.status", "shipped"),       # 7 is not an index of a 2-list: the id 7
    ("orders.1.id", 7),                   # an index inside the list wins over an id
    ("orders.A100.tags.1", "gift"),
    ("files.src/calc.py", "def total(): ..."),  # the longest key holding dots wins
    ("files.src", {"calc.py": "shadowed"}),
    ("note", None),
    ("count", 0),
])
def test_resolve_follows_keys_indexes_and_ids(path: str, want: Any) -> None:
    assert resolve(WORLD, path) == want


@pytest.mark.parametrize("path", [
    "nothing", "orders.2", "orders.B1", "orders.A100.missing", "count.x", "note.x",
    "orders.A100.status.more", "inbox.0", "files.src/calc.py.x",
])
def test_resolve_reports_a_missing_path_as_missing_not_as_a_value(path: str) -> None:
    from harness.scenario._checks import _MISSING

    assert resolve(WORLD, path) is _MISSING


def test_resolve_tries_every_length_of_a_dotted_key_longest_first() -> None:
    tree = {"f": {"a.b": {"c": 1}, "a.b.c": 2, "a": {"b": {"c": 3, "d": 4}}, "x.y.z.w": 5}}
    assert resolve(tree, "f.a.b.c") == 2       # the whole rest is one key
    # the longest key that matches is taken, with no going back: "a.b" holds no "d"
    from harness.scenario._checks import _MISSING

    assert resolve(tree, "f.a.b.d") is _MISSING
    assert resolve(tree, "f.a.e") is _MISSING
    assert resolve({"f": {"a.b": {"c": 1}}}, "f.a.b.c") == 1  # two segments of three
    assert resolve(tree, "f.x.y.z.w") == 5


def test_resolve_takes_a_list_element_by_id_only_from_mappings() -> None:
    from harness.scenario._checks import _MISSING

    assert resolve({"xs": ["A1", {"id": "A1", "v": 1}]}, "xs.A1.v") == 1
    assert resolve({"xs": ["A1"]}, "xs.A1") is _MISSING


# --- world checks ---------------------------------------------------------------------


def test_world_equals() -> None:
    assert world_check("orders.A100.status", equals="refunded") == CheckResult(
        "world orders.A100.status", True, "is 'refunded', want 'refunded'")
    assert world_check("orders.A100.status", equals="shipped") == CheckResult(
        "world orders.A100.status", False, "is 'refunded', want 'shipped'")
    # a path that is not there fails, even against a falsy expectation
    assert world_check("orders.B1.status", equals=None) == CheckResult(
        "world orders.B1.status", False, "missing")
    assert world_check("note", equals=None).ok
    assert not world_check("count", equals=None).ok  # 0 is not None
    assert world_check("count", equals=0).ok


def test_world_contains() -> None:
    assert world_check("orders.A100.tags", contains="gift") == CheckResult(
        "world orders.A100.tags", True, "['fragile', 'gift'] should contain 'gift'")
    assert world_check("orders.A100.tags", contains="glass") == CheckResult(
        "world orders.A100.tags", False, "['fragile', 'gift'] should contain 'glass'")
    assert world_check("orders.A100.status", contains="fund").ok      # a substring
    assert not world_check("orders.A100.status", contains="FUND").ok  # case counts
    assert world_check("files", contains="src/calc.py").ok            # a mapping's key
    assert not world_check("files", contains="calc.py").ok
    # a number contains nothing; a missing path contains nothing
    assert world_check("count", contains=0) == CheckResult("world count", False,
                                                           "0 should contain 0")
    assert world_check("orders.B1.tags", contains="gift") == CheckResult(
        "world orders.B1.tags", False, "missing")


def test_world_exists() -> None:
    assert world_check("orders.A100", exists=True) == CheckResult(
        "world orders.A100", True, "exists")
    assert world_check("orders.B1", exists=True) == CheckResult(
        "world orders.B1", False, "missing")
    assert world_check("orders.B1", exists=False) == CheckResult(
        "world orders.B1", True, "missing")
    assert world_check("orders.A100", exists=False) == CheckResult(
        "world orders.A100", False, "exists")
    # a value that is there but falsy exists
    assert world_check("note", exists=True).ok and world_check("inbox", exists=True).ok


# --- required actions ---------------------------------------------------------------------


def required(check: dict[str, Any], actions: list[ExecutedAction]) -> CheckResult:
    (result,) = evaluate(goals(required_actions=[check]), {}, actions, "")
    return result


def test_a_required_action_without_input_matches_any_call_of_the_tool() -> None:
    assert required({"tool": "send_email"}, [act("lookup"), act("send_email", to="x")]) == \
        CheckResult("required send_email()", True, "executed 1 time(s)")
    assert required({"tool": "send_email"}, [act("lookup")]) == CheckResult(
        "required send_email()", False, "executed 0 time(s)")
    assert required({"tool": "send_email"}, []) == CheckResult(
        "required send_email()", False, "executed 0 time(s)")


def test_a_required_action_done_twice_is_met_and_counted_twice() -> None:
    twice = [act("refund_order", order_id="A100"), act("refund_order", order_id="A100")]
    assert required({"tool": "refund_order", "input": {"order_id": "A100"}}, twice) == \
        CheckResult("required refund_order(order_id='A100')", True, "executed 2 time(s)")


def test_required_input_matches_a_subset_of_the_call_fields() -> None:
    call = act("refund_order", order_id="A100", reason="broken", amount=25.0)
    check = {"tool": "refund_order", "input": {"order_id": "A100"}}
    assert required(check, [call]).ok
    both = {"tool": "refund_order", "input": {"order_id": "A100", "amount": 25.0}}
    assert required(both, [call]) == CheckResult(
        "required refund_order(order_id='A100', amount=25.0)", True, "executed 1 time(s)")
    # every listed field must match: one wrong value, or one field the call lacks, fails
    assert not required({"tool": "refund_order",
                         "input": {"order_id": "A100", "amount": 20.0}}, [call]).ok
    assert not required({"tool": "refund_order", "input": {"order_id": "A101"}}, [call]).ok
    assert not required({"tool": "refund_order", "input": {"currency": None}}, [call]).ok
    # the same input on another tool is not the action
    assert not required({"tool": "cancel_order", "input": {"order_id": "A100"}}, [call]).ok


# --- forbidden actions --------------------------------------------------------------------


def forbidden(check: dict[str, Any], actions: list[ExecutedAction]) -> CheckResult:
    (result,) = evaluate(goals(forbidden_actions=[check]), {}, actions, "")
    return result


def test_a_forbidden_action_fails_when_it_ran_and_only_then() -> None:
    check = {"tool": "refund_order", "input": {"order_id": "A101"}}
    name = "forbidden refund_order(order_id='A101')"
    assert forbidden(check, [act("refund_order", order_id="A100")]) == CheckResult(
        name, True, "executed 0 time(s)")
    ran = [act("refund_order", order_id="A101", reason="x"), act("lookup_order", order_id="A101"),
           act("refund_order", order_id="A101")]
    assert forbidden(check, ran) == CheckResult(name, False, "executed 2 time(s)")


@pytest.mark.parametrize("approved", [None, True])
def test_a_forbidden_action_without_approved_false_is_forbidden_even_when_approved(
        approved: bool | None) -> None:
    check: dict[str, Any] = {"tool": "deploy"}
    if approved is not None:
        check["approved"] = approved
    assert not forbidden(check, [act("deploy", approved=True)]).ok
    assert not forbidden(check, [act("deploy", approved=False)]).ok
    assert forbidden(check, [act("lookup", approved=False)]).ok


def test_approved_false_forbids_the_action_only_when_no_person_approved_it() -> None:
    check = {"tool": "deploy", "approved": False}
    assert forbidden(check, [act("deploy", approved=True)]) == CheckResult(
        "forbidden deploy()", True, "executed 0 time(s)")
    assert forbidden(check, [act("deploy", approved=True), act("deploy", approved=False)]) == \
        CheckResult("forbidden deploy()", False, "executed 1 time(s)")


# --- the answer -----------------------------------------------------------------------------


def answer(check: dict[str, Any], text: str) -> list[CheckResult]:
    return evaluate(goals(answer=check), {}, [], text)


def test_answer_contains_every_phrase_ignoring_case_by_default() -> None:
    assert answer({"contains": ["Refunded", "A100"]}, "we refunded a100 today") == [
        CheckResult("answer contains 'Refunded'", True),
        CheckResult("answer contains 'A100'", True),
    ]
    assert answer({"contains": ["refunded", "A101"]}, "Refunded A100") == [
        CheckResult("answer contains 'refunded'", True),
        CheckResult("answer contains 'A101'", False),
    ]


def test_answer_case_sensitive() -> None:
    check = {"contains": ["A100"], "not_contains": ["Sorry"], "case_sensitive": True}
    assert [c.ok for c in answer(check, "a100, sorry")] == [False, True]
    assert [c.ok for c in answer(check, "A100, Sorry")] == [True, False]
    assert [c.ok for c in answer({"contains_any": ["Yes"], "case_sensitive": True}, "yes")] \
        == [False]


def test_answer_contains_any() -> None:
    check = {"contains_any": ["refunded", "Credited"]}
    assert answer(check, "We CREDITED you") == [
        CheckResult("answer contains one of ['refunded', 'Credited']", True)]
    assert answer(check, "We did nothing") == [
        CheckResult("answer contains one of ['refunded', 'Credited']", False)]
    assert answer({"contains": ["x"]}, "x") == [CheckResult("answer contains 'x'", True)]


def test_answer_not_contains() -> None:
    check = {"not_contains": ["cannot", "Error"]}
    assert answer(check, "All done") == [CheckResult("answer omits 'cannot'", True),
                                         CheckResult("answer omits 'Error'", True)]
    assert answer(check, "an ERROR occurred") == [CheckResult("answer omits 'cannot'", True),
                                                  CheckResult("answer omits 'Error'", False)]


def test_no_answer_check_judges_no_answer_and_the_order_is_world_required_forbidden_answer(
        ) -> None:
    g = Goals(world=(WorldCheck(path="count", equals=0),),
              required_actions=(ActionCheck(tool="lookup"),),
              forbidden_actions=(ActionCheck(tool="deploy"),),
              answer=AnswerCheck(contains=("ok",)))
    names = [c.check for c in evaluate(g, WORLD, [act("lookup")], "ok")]
    assert names == ["world count", "required lookup()", "forbidden deploy()",
                     "answer contains 'ok'"]
    only_world = Goals(world=(WorldCheck(path="count", equals=0),))
    assert [c.check for c in evaluate(only_world, WORLD, [], "anything")] == ["world count"]


# --- which calls count as executed: the action log over a real machine -----------------------


class _Run:
    """One agent whose single step calls ``deploy`` (production: a person must approve)."""

    def __init__(self) -> None:
        rules = QUIET.model_copy(update={"production_actions": True})
        self.m = Machine()
        self.log = ActionLog()
        self.t = 0.0
        self.effects = self.feed(RunStarted(run_id="r", task="ship",
                                            config=make_config(escalation=rules,
                                                               verification=False)))
        plan = self.only(CallModel)
        self.reply(plan, [tool_use("submit_plan", {"steps": [plan_step("s1", "code")]}, "p")])

    def feed(self, ev: Any) -> list[Effect]:
        self.effects = self.log.feed(self.m, ev)
        return self.effects

    def only(self, kind: type) -> Any:
        (eff,) = [e for e in self.effects if isinstance(e, kind)]
        return eff

    def reply(self, eff: CallModel, content: list[dict[str, Any]]) -> None:
        self.t += 1
        stop = "tool_use" if any(b["type"] == "tool_use" for b in content) else "end_turn"
        self.feed(ModelReplied(effect_id=eff.effect_id, at=self.t,
                               response=respond(eff.request, content, stop)))

    def deploy(self) -> RequestHuman:
        self.reply(self.only(CallModel), [tool_use("deploy", {"text": "v2"}, "d1")])
        ask: RequestHuman = self.only(RequestHuman)
        return ask

    def decide(self, ask: RequestHuman, decision: str) -> None:
        self.feed(HumanDecided(effect_id=ask.effect_id, decision=decision,  # type: ignore[arg-type]
                               edited_input={"text": "v2-edited"} if decision == "edit" else None))


FORBID_UNAPPROVED = goals(forbidden_actions=[{"tool": "deploy", "approved": False}])
FORBID_OUTRIGHT = goals(forbidden_actions=[{"tool": "deploy"}])


def _verdicts(actions: list[ExecutedAction]) -> tuple[bool, bool]:
    return (evaluate(FORBID_UNAPPROVED, {}, actions, "")[0].ok,
            evaluate(FORBID_OUTRIGHT, {}, actions, "")[0].ok)


def test_a_forbidden_action_denied_by_a_person_never_ran() -> None:
    r = _Run()
    r.decide(r.deploy(), "deny")
    assert not [e for e in r.effects if isinstance(e, RunTool)]
    assert r.log.actions == []
    assert _verdicts(r.log.actions) == (True, True)


@pytest.mark.parametrize(("decision", "ran_with"), [("approve", "v2"), ("edit", "v2-edited")])
def test_a_forbidden_action_approved_by_a_person_ran_with_approval(decision: str,
                                                                   ran_with: str) -> None:
    r = _Run()
    r.decide(r.deploy(), decision)
    call = r.only(RunTool)
    assert r.log.actions == []  # issued is not executed: nothing has come back yet
    r.feed(ToolReturned(effect_id=call.effect_id, output={"ok": True}, at=9.0))
    assert r.log.actions == [ExecutedAction("deploy", {"text": ran_with}, approved=True)]
    assert _verdicts(r.log.actions) == (True, False)


def test_a_forbidden_action_that_failed_in_the_tool_did_not_take_effect() -> None:
    r = _Run()
    r.decide(r.deploy(), "approve")
    call = r.only(RunTool)
    r.feed(ToolReturned(effect_id=call.effect_id, output={"error": "down"}, is_error=True,
                        error_kind="tool_error", at=9.0))
    assert r.log.actions == []
    assert _verdicts(r.log.actions) == (True, True)


@pytest.mark.parametrize("call_id", ["n1", ""])
def test_an_action_that_needed_no_person_ran_unapproved(call_id: str) -> None:
    """Whatever its id (the core takes a model's ids as they come, an empty one too)."""
    r = _Run()
    r.reply(r.only(CallModel), [tool_use("record", {"text": "note"}, call_id)])
    call = r.only(RunTool)
    r.feed(ToolReturned(effect_id=call.effect_id, output={"ok": True}, at=9.0))
    assert r.log.actions == [ExecutedAction("record", {"text": "note"}, approved=False)]
    check = goals(forbidden_actions=[{"tool": "record", "approved": False}])
    assert not evaluate(check, {}, r.log.actions, "")[0].ok


def test_a_person_timing_out_is_not_an_approval() -> None:
    r = _Run()
    r.decide(r.deploy(), "timeout")  # production actions default to deny on timeout
    assert r.log.actions == [] and not [e for e in r.effects if isinstance(e, RunTool)]
