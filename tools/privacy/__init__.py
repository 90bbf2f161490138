"""LGPD data-subject requests (Lei 13.709/2018, Art. 18): export and erase, see docs/privacy.md.

* :mod:`.identifiers` — e-mail / phone / CPF normalisation and the needles that find a person.
* :mod:`.registry` — every tenant table that can hold personal data and what erase does there.
* :mod:`.service` — submit a request (route transaction) and run it (Ray task or in-process).
* :mod:`.redis_keys` — run streams, caches and event streams that can mention a subject.
"""

from .identifiers import Redactor, Subject
from .registry import NOT_PERSONAL, REFERENCE_COLUMN, REGISTRY, NotPersonal, SubjectTable
from .service import PrivacyDeps, resolve, run_request, subject_hash_key, submit

__all__ = [
    "NOT_PERSONAL",
    "REFERENCE_COLUMN",
    "REGISTRY",
    "NotPersonal",
    "PrivacyDeps",
    "Redactor",
    "Subject",
    "SubjectTable",
    "resolve",
    "run_request",
    "subject_hash_key",
    "submit",
]
