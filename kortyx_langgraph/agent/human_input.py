"""Typed human input: ``use_interrupt`` asks a question whose answer LangGraph validates.

``use_interrupt`` is built on LangGraph's own ``interrupt(value, response_schema=...)``: the
request carries the JSON Schema of the expected answer, so LangGraph's server, its SDK and
the pending store all show it, and LangGraph validates an answer before it records it. An
answer that does not fit never reaches the node and is not kept, so the same token can be
answered again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, cast, overload

import pydantic
from langgraph.config import get_config
from langgraph.types import interrupt

from kortyx_langgraph.errors import ConfigurationError, InvalidAnswerError

InputKind = Literal["text", "choice", "multi-choice"]
"""The kinds of human input: free text, one option, or several options."""

REQUEST_TYPE = "kortyx.human_input"
"""The ``type`` field that marks an interrupt value as a :func:`use_interrupt` request."""


@dataclass(frozen=True)
class Option:
    """One answer a human can pick: ``id`` is what they send, ``value`` what the node gets
    (the id itself when ``value`` is ``None``)."""

    id: str
    label: str
    description: str | None = None
    value: Any = None

    def as_dict(self) -> dict[str, Any]:
        """The option as it appears in the request (``value`` is the node's business)."""
        out: dict[str, Any] = {"id": self.id, "label": self.label}
        if self.description is not None:
            out["description"] = self.description
        return out


OptionLike = Option | dict[str, Any] | str


def _option(raw: OptionLike) -> Option:
    option = _parsed_option(raw)
    for text in (option.id, option.label, option.description):
        _check_text(text, "options")
    return option


def _parsed_option(raw: OptionLike) -> Option:
    if isinstance(raw, Option) and isinstance(raw.id, str) and raw.id:
        return raw
    if isinstance(raw, str) and raw:
        return Option(id=raw, label=raw)
    if isinstance(raw, dict) and isinstance(raw.get("id"), str) and raw["id"]:
        return Option(
            id=raw["id"],
            label=str(raw.get("label", raw["id"])),
            description=raw.get("description"),
            value=raw.get("value"),
        )
    raise ConfigurationError(
        f"an option needs a non-empty string id, got {raw!r}", variable="options"
    )


def _check_text(text: object, variable: str) -> None:
    """Refuse text that UTF-8 cannot encode (a lone surrogate, as ``os.fsdecode`` leaves
    for a file name's undecodable bytes): stored, it would come back changed, and as an
    option id it cannot be an answer type."""
    if isinstance(text, str):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ConfigurationError(
                f"{variable}: {text!r} holds a character UTF-8 cannot encode "
                f"({exc.reason} at position {exc.start})",
                variable=variable,
            ) from None


@dataclass(frozen=True)
class HumanInputRequest:
    """A question for a human: its kind, its text, its options and how many to pick."""

    kind: InputKind
    question: str
    options: tuple[Option, ...] = ()
    min_choices: int = 1
    max_choices: int | None = None

    @classmethod
    def build(
        cls,
        kind: str,
        question: str,
        options: Sequence[OptionLike] | None,
        min_choices: int | None,
        max_choices: int | None,
    ) -> HumanInputRequest:
        """Check the arguments of :func:`use_interrupt` and make the request."""
        if kind not in ("text", "choice", "multi-choice"):
            raise ConfigurationError(
                f"unknown input kind {kind!r}; use 'text', 'choice' or 'multi-choice'",
                variable="kind",
            )
        if not isinstance(question, str):
            raise ConfigurationError(
                f"the question must be text, got {type(question).__name__}", variable="question"
            )
        _check_text(question, "question")
        if isinstance(options, (str, bytes)):  # a string is a sequence of its characters
            raise ConfigurationError(
                f"options must be a list of options, got the string {options!r}",
                variable="options",
            )
        for name, bound in (("min_choices", min_choices), ("max_choices", max_choices)):
            if bound is None:
                continue
            if kind != "multi-choice":
                raise ConfigurationError(
                    f"{name} applies to 'multi-choice' questions only", variable=name
                )
            if isinstance(bound, bool) or not isinstance(bound, int):
                raise ConfigurationError(
                    f"{name} must be a whole number, got {bound!r}", variable=name
                )
        parsed = tuple(_option(o) for o in options or ())
        if kind == "text":
            if parsed:
                raise ConfigurationError("a 'text' question takes no options", variable="options")
            return cls("text", question)
        if not parsed:
            raise ConfigurationError(f"a {kind!r} question needs options", variable="options")
        ids = [o.id for o in parsed]
        if len(set(ids)) != len(ids):
            raise ConfigurationError(f"option ids must be unique, got {ids}", variable="options")
        if kind == "choice":
            return cls("choice", question, parsed)
        low = 1 if min_choices is None else min_choices
        high = len(parsed) if max_choices is None else max_choices
        if not 0 <= low <= high <= len(parsed):
            raise ConfigurationError(
                f"need 0 <= min_choices ({low}) <= max_choices ({high}) <= options ({len(parsed)})",
                variable="max_choices",
            )
        return cls("multi-choice", question, parsed, low, high)

    @classmethod
    def from_value(cls, value: object) -> HumanInputRequest | None:
        """The request an interrupt value describes, or ``None`` if it is not one."""
        if not isinstance(value, dict) or value.get("type") != REQUEST_TYPE:
            return None
        try:
            return cls.build(
                value["kind"],
                value["question"],
                value.get("options"),
                value.get("min_choices"),
                value.get("max_choices"),
            )
        except (KeyError, ConfigurationError):
            return None

    def as_value(self) -> dict[str, Any]:
        """What the interrupt carries (``Interrupt.value``): JSON-friendly."""
        out: dict[str, Any] = {"type": REQUEST_TYPE, "kind": self.kind, "question": self.question}
        if self.options:
            out["options"] = [o.as_dict() for o in self.options]
        if self.kind == "multi-choice":
            out["min_choices"] = self.min_choices
            out["max_choices"] = self.max_choices
        return out

    def answer_type(self) -> Any:
        """The type LangGraph validates an answer against; its JSON Schema is published."""
        if self.kind == "text":
            return str
        ids = cast(Any, Literal).__getitem__(tuple(o.id for o in self.options))
        if self.kind == "choice":
            return ids
        return Annotated[
            list[ids],  # type: ignore[valid-type]
            pydantic.BeforeValidator(_ordered),
            pydantic.Field(
                min_length=self.min_choices,
                max_length=self.max_choices,
                json_schema_extra={"uniqueItems": True},
            ),
            pydantic.AfterValidator(_unique),
        ]

    def check(self, answer: Any) -> Any:
        """The validated answer (option ids for choices), or :class:`InvalidAnswerError`."""
        try:
            return pydantic.TypeAdapter(self.answer_type()).validate_python(answer)
        except pydantic.ValidationError as exc:
            raise InvalidAnswerError(_explain(self, answer, exc)) from None

    def result(self, answer: Any) -> Any:
        """What the node receives for a validated answer: the text, or the option values."""
        if self.kind == "text":
            return answer
        by_id = {o.id: o.id if o.value is None else o.value for o in self.options}
        if self.kind == "choice":
            return by_id[answer]
        return [by_id[i] for i in answer]


def _ordered(answer: Any) -> Any:
    """A multi-choice answer in an order: the node gets the values in the order given, and a
    set has none (pydantic would take it as a list in whatever order it iterates)."""
    if isinstance(answer, (set, frozenset)):
        raise ValueError("the answer must be a list: a set has no order")
    return answer


def _unique(ids: list[str]) -> list[str]:
    if len(set(ids)) != len(ids):
        raise ValueError("each option can be chosen once")
    return ids


def _explain(request: HumanInputRequest, answer: Any, exc: pydantic.ValidationError) -> str:
    if request.kind == "text":
        return f"the answer must be text, got {type(answer).__name__}"
    ids = ", ".join(repr(o.id) for o in request.options)
    if request.kind == "choice":
        return f"the answer must be one option id of {ids}, got {answer!r}"
    return (
        f"the answer must be a list of {request.min_choices} to {request.max_choices} distinct "
        f"option ids of {ids}, got {answer!r} ({exc.errors()[0]['msg']})"
    )


@overload
def use_interrupt(
    kind: Literal["text"],
    question: str,
    *,
    options: Sequence[OptionLike] | None = None,
    min_choices: int | None = None,
    max_choices: int | None = None,
) -> str: ...


@overload
def use_interrupt(
    kind: Literal["multi-choice"],
    question: str,
    *,
    options: Sequence[OptionLike] | None = None,
    min_choices: int | None = None,
    max_choices: int | None = None,
) -> list[Any]: ...


@overload
def use_interrupt(
    kind: InputKind,
    question: str,
    *,
    options: Sequence[OptionLike] | None = None,
    min_choices: int | None = None,
    max_choices: int | None = None,
) -> Any: ...


def use_interrupt(
    kind: InputKind,
    question: str,
    *,
    options: Sequence[OptionLike] | None = None,
    min_choices: int | None = None,
    max_choices: int | None = None,
) -> Any:
    """Ask a human inside a node and return the answer, validated.

    ``kind`` is ``"text"`` (returns the text, a ``str``), ``"choice"`` (returns the chosen
    option's value) or ``"multi-choice"`` (returns the chosen options' values as a ``list``,
    in the order given;
    ``min_choices`` defaults to 1, ``max_choices`` to every option). ``options`` are
    :class:`Option`, dicts with ``id``, ``label``, ``description`` and ``value``, or plain
    strings. The human answers with the text, one option id, or a list of option ids.

    The first call in a node pauses the run (LangGraph's ``interrupt``); the request
    carries the JSON Schema of the answer as ``response_schema``. An answer that does not
    fit is refused by LangGraph before the node runs on, and the question stays pending.
    """
    request = HumanInputRequest.build(kind, question, options, min_choices, max_choices)
    try:
        get_config()
    except RuntimeError as exc:  # LangGraph's "Called get_config outside of a runnable context"
        raise RuntimeError(
            "use_interrupt() asks a human from inside a graph node while the graph runs; it "
            "was called outside of one"
        ) from exc
    answer = interrupt(request.as_value(), response_schema=request.answer_type())
    return request.result(answer)
