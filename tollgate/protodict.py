"""Messages as the plain values operators see in JSON (the admin API, `--json`).

Unlike protobuf's json_format, it keeps field names and int64s as they are, gives an
unset optional field (or message) as None rather than leaving it out, and an enum as
its lower-case name without the type's prefix (KEY_STATUS_PAUSED -> "paused").
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message


def _enum_name(enum: EnumDescriptor, number: int) -> str:
    prefix = enum.values[0].name.removesuffix("UNSPECIFIED")  # "KEY_STATUS_"
    value = enum.values_by_number.get(number)
    return value.name.removeprefix(prefix).lower() if value else str(number)


def _value(field: FieldDescriptor, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return as_dict(value)
    if field.type == FieldDescriptor.TYPE_ENUM:
        return _enum_name(field.enum_type, value)
    return value


def as_dict(message: Message) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        if field.is_repeated:
            if field.message_type is not None and field.message_type.GetOptions().map_entry:
                shown[field.name] = dict(value)
            else:
                shown[field.name] = [_value(field, v) for v in value]
        elif field.has_presence and not message.HasField(field.name):
            shown[field.name] = None
        else:
            shown[field.name] = _value(field, value)
    return shown
