"""Password hashes (argon2id, re-hashed when the parameters change) and the password policy
(PERM-09)."""

from __future__ import annotations

from contextlib import suppress
from functools import cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from guanxi.errors import FieldError, ValidationFailed
from guanxi.i18n import Message, _

MIN_LENGTH = 10
MAX_LENGTH = 1024  # hashing cost grows with length; nobody types more
MIN_DISTINCT = 4

# argon2-cffi's defaults are RFC 9106's second recommendation: argon2id, t=3, 64 MiB, p=4.
HASHER = PasswordHasher(type=Type.ID)

# The most used passwords that pass the length rule, from public breach corpora (zh and en).
COMMON_PASSWORDS = frozenset(
    {
        "0123456789",
        "0987654321",
        "1111111111",
        "1029384756",
        "1122334455",
        "1234567890",
        "12345678910",
        "123456789a",
        "1234567890a",
        "123456789abc",
        "1234567890q",
        "1234qwer!@#$",
        "123qweasdzxc",
        "1314520520",
        "1q2w3e4r5t",
        "1q2w3e4r5t6y",
        "1qaz2wsx3edc",
        "1qazxsw23edc",
        "5201314520",
        "9876543210",
        "a123456789",
        "a1234567890",
        "a1b2c3d4e5",
        "aa123456789",
        "abc1234567",
        "abc123456789",
        "abcd123456",
        "abcd1234567",
        "abcdefghij",
        "admin12345",
        "admin123456",
        "administrator",
        "asdfghjkl1",
        "asdfghjkl;",
        "changeme123",
        "guanxi12345",
        "guanxi123456",
        "iloveyou123",
        "letmein123",
        "p@ssw0rd123",
        "passw0rd123",
        "password12",
        "password123",
        "password1234",
        "password12345",
        "qazwsxedc123",
        "qazwsxedcrfv",
        "qq123456789",
        "qwer123456",
        "qwerty12345",
        "qwerty123456",
        "qwertyuiop",
        "qwertyuiop123",
        "welcome123",
        "woaini1314",
        "woaini1314520",
        "woaini520520",
        "zxcvbnm123",
        "zxcvbnm12345",
    }
)


def hash_password(password: str, hasher: PasswordHasher = HASHER) -> str:
    return hasher.hash(password)


def verify_password(
    stored_hash: str | None, password: str, hasher: PasswordHasher = HASHER
) -> tuple[bool, str | None]:
    """(matches, new hash when the stored one used older parameters, else None).

    A user without a hash still costs one verification, so timing does not tell whether an
    account exists or has a password.
    """
    if not stored_hash:
        _burn_time(password, hasher)
        return False, None
    try:
        hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False, None
    return True, hasher.hash(password) if hasher.check_needs_rehash(stored_hash) else None


def _burn_time(password: str, hasher: PasswordHasher) -> None:
    with suppress(VerificationError):
        hasher.verify(_dummy_hash(hasher), password)


@cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    return hasher.hash("guanxi: no such account")


def policy_errors(password: object, username: str | None = None) -> list[FieldError]:
    """Every reason `password` is too weak, as errors on the field "password"."""

    def error(code: str, message: Message) -> FieldError:
        return FieldError("password", code, message)

    if not isinstance(password, str) or not password:
        return [error("required", _("Enter a password"))]
    found: list[FieldError] = []
    if len(password) < MIN_LENGTH:
        found.append(
            error("too_short", _("The password needs at least {n} characters", n=MIN_LENGTH))
        )
    if len(password) > MAX_LENGTH:
        found.append(
            error("too_long", _("The password may have at most {n} characters", n=MAX_LENGTH))
        )
    folded = password.casefold()
    name = (username or "").strip().casefold()
    if name and (folded == name or (len(name) >= 4 and name in folded)):
        found.append(error("contains_username", _("The password must not contain the user name")))
    if len(set(folded)) < MIN_DISTINCT:
        found.append(
            error(
                "repetitive",
                _("The password needs at least {n} different characters", n=MIN_DISTINCT),
            )
        )
    if folded in COMMON_PASSWORDS:
        found.append(
            error("common", _("This password is one of the most used ones; choose another"))
        )
    return found


def check_policy(password: object, username: str | None = None) -> None:
    """Raise ValidationFailed naming the field "password" unless the password is strong enough."""
    problems = policy_errors(password, username)
    if problems:
        raise ValidationFailed(problems)
