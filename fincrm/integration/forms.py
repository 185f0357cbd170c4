"""Page forms of the import pages (field names match the services' arguments, so a ServiceError's
field lands on the right input), and the upload handler that keeps big uploads encrypted while the
request reads them."""

from __future__ import annotations

import io
import tempfile
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.utils.translation import gettext_lazy as _

from fincrm.integration.entities import ENTITIES
from fincrm.integration.models import FileEncoding, ImportBatch, ImportEntity, ImportTemplate, OnMatch
from fincrm.integration.services import DELIMITERS

_SELECT = {"class": "form-select"}
_INPUT = {"class": "form-control"}
FORMAT_CHOICES = [("csv", "CSV"), ("xlsx", "XLSX")]
MAPPING_PREFIX = "map__"


def _delimiter_choices() -> list[tuple[str, Any]]:
    return [(key, f"{label} ({key!r})" if key != "\t" else label) for key, label in DELIMITERS.items()]


class ImportNewForm(forms.Form):
    entity = forms.ChoiceField(
        label=_("Data"), choices=ImportEntity.choices, widget=forms.Select(attrs=_SELECT)
    )
    template = forms.TypedChoiceField(
        label=_("Template"),
        required=False,
        coerce=int,
        empty_value=None,
        help_text=_(
            "A saved mapping sets the format, encoding, columns and matching; "
            "leave empty to map the columns after the upload."
        ),
        widget=forms.Select(attrs=_SELECT),
    )
    file = forms.FileField(
        label=_("File"),
        help_text=_("CSV or XLSX; the first row names the columns."),
        widget=forms.ClearableFileInput(attrs={"class": "form-control", "accept": ".csv,.txt,.xlsx"}),
    )
    file_format = forms.ChoiceField(
        label=_("Format"), choices=FORMAT_CHOICES, widget=forms.Select(attrs=_SELECT)
    )
    encoding = forms.ChoiceField(
        label=_("Encoding"),
        choices=FileEncoding.choices,
        help_text=_("CSV only. Files saved by Excel in China are often GB18030."),
        widget=forms.Select(attrs=_SELECT),
    )
    delimiter = forms.ChoiceField(label=_("Delimiter"), choices=(), widget=forms.Select(attrs=_SELECT))
    on_match = forms.ChoiceField(
        label=_("Existing records"), choices=OnMatch.choices, widget=forms.Select(attrs=_SELECT)
    )
    mode = forms.ChoiceField(
        label=_("Mode"), choices=ImportBatch.Mode.choices, widget=forms.Select(attrs=_SELECT)
    )

    def __init__(self, *args: Any, templates: list[ImportTemplate], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        template_field = self.fields["template"]
        assert isinstance(template_field, forms.ChoiceField)
        template_field.choices = [
            ("", _("— none: map the columns after the upload —")),
            *[(template.pk, f"{template.name} · {template.get_entity_display()}") for template in templates],
        ]
        delimiter_field = self.fields["delimiter"]
        assert isinstance(delimiter_field, forms.ChoiceField)
        delimiter_field.choices = _delimiter_choices()


class MappingForm(forms.Form):
    """One select per field of the entity, offering the file's columns."""

    def __init__(
        self, *args: Any, entity: str, header: list[str], initial_mapping: Mapping[str, str], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.entity = entity
        choices = [("", _("— not imported —")), *[(column, column) for column in header]]
        for spec in ENTITIES[entity].fields:
            label = f"{spec.label} ({spec.name})"
            self.fields[MAPPING_PREFIX + spec.name] = forms.ChoiceField(
                label=label,
                choices=choices,
                required=False,
                initial=initial_mapping.get(spec.name, ""),
                help_text=_("Required for new records.") if spec.required else "",
                widget=forms.Select(attrs=_SELECT),
            )

    def mapping(self) -> dict[str, str]:
        return {
            name[len(MAPPING_PREFIX) :]: value
            for name, value in self.cleaned_data.items()
            if name.startswith(MAPPING_PREFIX) and value
        }


class TemplateNameForm(forms.Form):
    name = forms.CharField(label=_("Template name"), max_length=100, widget=forms.TextInput(attrs=_INPUT))


class TemplateForm(forms.Form):
    """A template's name, how files are read, matching, and the column name of each field."""

    name = forms.CharField(label=_("Template name"), max_length=100, widget=forms.TextInput(attrs=_INPUT))
    file_format = forms.ChoiceField(
        label=_("Format"), choices=FORMAT_CHOICES, widget=forms.Select(attrs=_SELECT)
    )
    encoding = forms.ChoiceField(
        label=_("Encoding"), choices=FileEncoding.choices, widget=forms.Select(attrs=_SELECT)
    )
    delimiter = forms.ChoiceField(label=_("Delimiter"), choices=(), widget=forms.Select(attrs=_SELECT))
    on_match = forms.ChoiceField(
        label=_("Existing records"), choices=OnMatch.choices, widget=forms.Select(attrs=_SELECT)
    )

    def __init__(self, *args: Any, entity: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.entity = entity
        delimiter_field = self.fields["delimiter"]
        assert isinstance(delimiter_field, forms.ChoiceField)
        delimiter_field.choices = _delimiter_choices()
        for spec in ENTITIES[entity].fields:
            self.fields[MAPPING_PREFIX + spec.name] = forms.CharField(
                label=f"{spec.label} ({spec.name})",
                max_length=100,
                required=False,
                help_text=_("The column header in the file; empty: not imported."),
                widget=forms.TextInput(attrs=_INPUT),
            )

    @classmethod
    def initial_for(cls, template: ImportTemplate) -> dict[str, Any]:
        initial: dict[str, Any] = {
            "name": template.name,
            "file_format": template.file_format,
            "encoding": template.encoding,
            "delimiter": template.delimiter,
            "on_match": template.on_match,
        }
        initial.update({MAPPING_PREFIX + field: column for field, column in template.mapping.items()})
        return initial

    def service_arguments(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "entity": self.entity,
            "file_format": data["file_format"],
            "encoding": data["encoding"],
            "delimiter": data["delimiter"],
            "on_match": data["on_match"],
            "mapping": {
                name[len(MAPPING_PREFIX) :]: value.strip()
                for name, value in data.items()
                if name.startswith(MAPPING_PREFIX) and value and value.strip()
            },
        }


# ---------------------------------------------------------------- uploads in flight


class _SpoolReader(io.RawIOBase):
    """Reads an EncryptedSpool's records back in order, decrypting one at a time."""

    def __init__(self, spool: EncryptedSpool) -> None:
        super().__init__()
        self.spool = spool
        self.pending = b""
        self.index = 0
        self.spool.handle.seek(0)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if offset != 0 or whence != io.SEEK_SET:
            raise io.UnsupportedOperation("an upload in flight is read from its start only")
        self.spool.handle.seek(0)
        self.pending, self.index = b"", 0
        return 0

    def readinto(self, buffer: Any) -> int:
        while not self.pending:
            head = self.spool.handle.read(4)
            if not head:
                return 0
            size = int.from_bytes(head, "big")
            sealed = self.spool.handle.read(size)
            self.pending = self.spool.cipher.decrypt(self.index.to_bytes(12, "big"), sealed, None)
            self.index += 1
        count = min(len(buffer), len(self.pending))
        buffer[:count] = self.pending[:count]
        self.pending = self.pending[count:]
        return count


class EncryptedSpool(UploadedFile):
    """An uploaded file too big for memory, kept while the request lasts in an unnamed temporary
    file, each chunk AES-256-GCM sealed with a key that exists only in this process's memory: the
    clear bytes of an upload never touch the disk (ARCHITECTURE.md, "Sensitive fields")."""

    def __init__(self, name: str, content_type: str, charset: str | None, extra: Any) -> None:
        self.cipher = AESGCM(AESGCM.generate_key(bit_length=256))
        self.handle = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the upload
        self.records = 0
        super().__init__(None, name, content_type, 0, charset, extra)

    def write_chunk(self, data: bytes) -> None:
        sealed = self.cipher.encrypt(self.records.to_bytes(12, "big"), data, None)
        self.handle.write(len(sealed).to_bytes(4, "big") + sealed)
        self.records += 1

    def finish(self, size: int) -> None:
        self.size = size
        self.handle.flush()
        self.file = io.BufferedReader(_SpoolReader(self), buffer_size=64 * 1024)

    def close(self) -> None:
        self.handle.close()


class EncryptedSpoolUploadHandler(FileUploadHandler):
    """Replaces Django's TemporaryFileUploadHandler (settings.FILE_UPLOAD_HANDLERS): uploads above
    FILE_UPLOAD_MAX_MEMORY_SIZE go to an EncryptedSpool instead of a clear temporary file."""

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.spool = EncryptedSpool(
            self.file_name or "", self.content_type or "", self.charset, self.content_type_extra
        )

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        # Past the import size cap, one byte more than the cap is kept: enough for the import to
        # refuse the file as too large, without filling the disk with the rest of it.
        room = settings.FINCRM_IMPORT_MAX_BYTES + 1 - start
        if room > 0:
            self.spool.write_chunk(raw_data[:room])
        return None

    def file_complete(self, file_size: int) -> UploadedFile:
        self.spool.finish(file_size)
        return self.spool
