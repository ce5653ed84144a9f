"""Request bodies: JSON objects with exact decimals, or the same fields form-encoded.

``BodyParser`` is the API's parser (``NinjaAPI(parser=...)``): a JSON body's numbers with a fraction
are read as exact ``Decimal``s (``0.1`` stays 0.1), and a form body (what an HTML form, ``curl -d`` or
Django's test client send by default) gives its fields as text. A view takes its body as
``payload: Fields[SomeSchema]``: ninja's own ``Body`` would replace the parser's message ("the body is
empty", "must be an object") by "Cannot parse request body".

The field types here document themselves in the schema and refuse with a phrase that
``errors.validation_message`` puts after the field's name.
"""

import json
import unicodedata
from decimal import Decimal
from typing import Annotated, Any

from ninja.params.models import Body, BodyModel
from ninja.parser import Parser
from pydantic import PlainValidator, WithJsonSchema

from .errors import BadRequest, refusal

FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
JSON_CONTENT_TYPES = ("application/json", "text/plain", "")


class BodyParser(Parser):
    def parse_body(self, request) -> dict:
        """The body as a dict of fields; ``BadRequest`` saying what is wrong when it is not one."""
        content_type = request.content_type or ""
        if content_type in FORM_CONTENT_TYPES:
            return request.POST.dict()
        if content_type not in JSON_CONTENT_TYPES and not content_type.endswith("+json"):
            raise BadRequest(
                f"Send a JSON body with Content-Type: application/json (got {content_type or 'none'})."
            )
        try:
            text = request.body.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("Malformed JSON: the body is not UTF-8 text.") from None
        if not text.strip():
            raise BadRequest("Malformed JSON: the body is empty; send a JSON object.")
        try:
            data = json.loads(text, parse_float=Decimal)
        except ValueError as exc:
            raise BadRequest(f"Malformed JSON: {exc}.") from None
        except RecursionError:
            raise BadRequest("Malformed JSON: nested too deeply.") from None
        if not isinstance(data, dict):
            raise BadRequest(f"The JSON body must be an object, got {type(data).__name__}.")
        return data


class _FieldsModel(BodyModel):
    @classmethod
    def get_request_data(cls, request, api, path_params):
        data = api.parser.parse_body(request)
        name = getattr(cls, "__read_from_single_attr__", None)
        return {name: data} if name else data


class _Fields(Body):
    _model = _FieldsModel

    @classmethod
    def _param_source(cls) -> str:
        return "body"  # documented as ninja's Body is (application/json; the API adds the form type)


class _FieldsShortcut:
    def __getitem__(self, schema):
        return Annotated[schema, _Fields(...)]


Fields = _FieldsShortcut()


def _number_or_text(value: Any) -> Any:
    # The trade service parses the quantity (and says what is wrong with "lots" or "NaN"); this only
    # refuses what cannot be a number at all.
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise refusal("must be a number or a string holding one")
    return value


NumberOrText = Annotated[
    str | int | Decimal,
    PlainValidator(_number_or_text),
    WithJsonSchema({"anyOf": [{"type": "number"}, {"type": "string"}]}),
]


def _has_control_characters(text: str) -> bool:
    return any(unicodedata.category(char) in ("Cc", "Cf") for char in text)


def plain_text(max_length: int):
    """A string type of at most ``max_length`` characters without control characters, stripped."""

    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise refusal("must be a string")
        value = value.strip()
        if len(value) > max_length:
            raise refusal(f"is too long: at most {max_length} characters")
        if _has_control_characters(value):
            raise refusal("must not contain control characters")
        return value

    return Annotated[str, PlainValidator(check), WithJsonSchema({"type": "string", "maxLength": max_length})]
