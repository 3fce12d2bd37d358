"""Settings and form definitions: data the team edits, read into typed values. Imports nothing of ours."""

from config.forms import (
    Condition,
    FieldDefinition,
    FieldType,
    FormDefinition,
    FormDefinitions,
    FormKind,
    Option,
    load_form_definitions,
)

__all__ = [
    "Condition",
    "FieldDefinition",
    "FieldType",
    "FormDefinition",
    "FormDefinitions",
    "FormKind",
    "Option",
    "load_form_definitions",
]
