"""Every error Lethe raises on purpose derives from one root, so callers can catch them in one place.

Hierarchy::

    LetheError                      root; the CLI turns it into a message and an exit code, no traceback
    ├── PolicyError                 the policy file is malformed (file, line and field in the message)
    ├── SettingsError               a setting or secret (key, URL) is missing or malformed
    │   └── KeyChangedError         a key differs from the one the ledger registered for its version
    ├── ParameterError              a command-line or flow parameter is invalid, out of range or refused
    ├── SchemaMismatchError         the policy does not fit the live schema (unknown table, column, type)
    ├── StoreError                  a data store cannot be reached or a statement failed (driver error wrapped)
    │   └── TransientStoreError     worth retrying: connection lost, deadlock, lock wait timeout
    ├── OperatorError               an anonymisation operator is unknown or cannot write a column
    ├── LedgerError                 the evidence ledger cannot be read or written
    │   ├── LedgerTamperedError     verification found a modified, deleted, reordered or truncated entry
    │   └── KeyNotProvedError       ``lethe ledger prove``: no journalled batch holds the key (exit 1, an answer)
    ├── VerificationError           a post-condition failed after a change (e.g. expired rows remain)
    ├── ConcurrentRunError          another run holds the lock on the same store and rule
    └── SubjectError                a data subject is unknown or an identifier is ambiguous
        ├── SubjectNotFoundError    no subject matches the identifier
        └── AmbiguousSubjectError   several subjects match the identifier

Messages never contain personal values: they name tables, columns, rules and counts, and at most keyed
fingerprints of keys. Driver errors are wrapped with ``raise StoreError(...) from exc`` at the boundary,
and their text is not copied because drivers echo statement parameters.
"""

from __future__ import annotations


class LetheError(Exception):
    """Root of all errors Lethe raises on purpose."""

    exit_code: int = 1


class PolicyError(LetheError):
    """The policy file cannot be loaded or does not validate."""

    exit_code = 2


class SettingsError(LetheError):
    """A required setting or secret is missing or malformed."""

    exit_code = 2


class KeyChangedError(SettingsError):
    """A key (LETHE_MASTER_KEY, LETHE_LEDGER_KEY) is not the one registered for its version in the ledger.

    Raised before anything is changed; a master key rotation is declared with a new LETHE_KEY_VERSION.
    """


class ParameterError(LetheError):
    """A parameter (an instant, a passphrase, a missing guard flag) is invalid, out of range or refused."""

    exit_code = 2


class SchemaMismatchError(LetheError):
    """The policy refers to tables, columns or types the live schema does not have."""

    exit_code = 2


class StoreError(LetheError):
    """A data store could not be reached or a statement on it failed."""

    exit_code = 3


class OperatorError(LetheError):
    """An anonymisation operator is unknown, misconfigured, or cannot write a column."""

    exit_code = 2


class LedgerError(LetheError):
    """The evidence ledger cannot be read or written."""

    exit_code = 3


class LedgerTamperedError(LedgerError):
    """Verification of the ledger's HMAC chain failed."""

    exit_code = 4


class VerificationError(LetheError):
    """A post-condition did not hold after a change was applied."""

    exit_code = 5


class ConcurrentRunError(LetheError):
    """Another run holds the lock for the same work."""

    exit_code = 6


class SubjectError(LetheError):
    """A data subject could not be found, or an identifier matched more than one subject."""

    exit_code = 2
    # The register's request that recorded the outcome, when one did (a reference, never the identifier).
    request_id: str | None = None


class TransientStoreError(StoreError):
    """A store error worth retrying: a lost connection, a deadlock, a lock timeout."""


class SubjectNotFoundError(SubjectError):
    """No subject matches the identifier (an answer to the request, recorded as "not found")."""


class AmbiguousSubjectError(SubjectError):
    """The identifier matches more than one subject; the request is refused until it is unambiguous."""


class KeyNotProvedError(LedgerError):
    """No journalled batch holds the key asked about: an answer ("not handled"), not a failure of Lethe."""

    exit_code = 1
