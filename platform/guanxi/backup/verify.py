"""`guanxi backup verify`: is the archive whole? Its own checksum, the dump's and every
attachment's against the manifest, read in one pass and without touching any database."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from guanxi.backup.archive import (
    MemberDigest,
    hash_stream,
    read_archive,
    read_manifest_bytes,
    read_sidecar,
)
from guanxi.backup.errors import BackupError
from guanxi.backup.manifest import ATTACHMENTS_PREFIX, Manifest


@dataclass
class VerifyReport:
    archive: Path
    manifest: Manifest | None = None
    archive_sha256: str | None = None
    problems: list[str] = field(default_factory=list)
    files_checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems and self.manifest is not None


def verify_archive(archive: Path | str) -> VerifyReport:
    """Check an archive and report every problem found (report.ok when there is none)."""
    report = VerifyReport(Path(archive))
    path = report.archive
    if not path.is_file():
        report.problems.append(f"{path} does not exist or is not a file")
        return report
    expected: str | None = None
    try:
        expected = read_sidecar(path)
    except BackupError as error:
        report.problems.append(str(error))
    raw_manifest: list[bytes] = []
    members: dict[str, MemberDigest] = {}

    def take(kind: str, name: str, stream: IO[bytes]) -> None:
        if kind == "manifest":
            raw_manifest.append(read_manifest_bytes(stream))
        else:
            members[name] = hash_stream(stream)

    try:
        report.archive_sha256 = read_archive(path, take)
    except BackupError as error:
        report.problems.append(str(error))
    if expected and report.archive_sha256 and expected != report.archive_sha256:
        report.problems.append(
            f"the archive's sha256 {report.archive_sha256} differs from {expected} recorded in "
            f"{path.name}.sha256: the file was changed or damaged"
        )
    if not raw_manifest:
        if not report.problems:
            report.problems.append("the archive has no manifest.json")
        return report
    try:
        report.manifest = Manifest.from_json(raw_manifest[0])
    except BackupError as error:
        report.problems.append(str(error))
        return report
    report.problems.extend(compare_members(report.manifest, members))
    report.files_checked = len(members)
    return report


def compare_members(manifest: Manifest, members: dict[str, MemberDigest]) -> list[str]:
    """What differs between the members read and the checksums the manifest recorded."""
    problems = []
    wanted = {
        manifest.database["member"]: MemberDigest(
            int(manifest.database["size"]), str(manifest.database["sha256"])
        )
    }
    for name, entry in manifest.attachments.items():
        wanted[ATTACHMENTS_PREFIX + name] = MemberDigest(entry["size"], entry["sha256"])
    for name, digest in wanted.items():
        found = members.get(name)
        if found is None:
            problems.append(f"{name} is listed in the manifest but missing from the archive")
        elif found != digest:
            problems.append(
                f"{name} does not match its checksum in the manifest "
                f"(sha256 {found.sha256[:16]}…, {found.size} bytes; expected "
                f"{digest.sha256[:16]}…, {digest.size} bytes)"
            )
    for name in sorted(set(members) - set(wanted)):
        problems.append(f"{name} is in the archive but not in the manifest")
    return problems
