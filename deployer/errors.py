"""The errors deployer raises, and the exit codes they map to.

Why this module exists: every failure a user can meet is raised where it happens as one of these
classes, carrying a message written for the engineer on call (which thing, what happened), a hint
(what to do next) and an exit code. The CLI edge prints it once; nothing else prints errors.
Third-party exceptions (Kubernetes API, google-auth, Terraform, subprocess) are translated into
these at the boundary where they enter, chained with ``from`` and stripped of anything secret.

The exit-code table is part of deployer's interface (Jenkins and scripts branch on it); it is
documented in README.md and printed by ``deployer --help``.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    INTERNAL = 1
    USAGE = 2
    CONFIG = 3
    CREDENTIALS = 4
    TOOL = 5
    API_REJECTED = 6
    FAILED = 7
    PARTIAL = 8
    LOCKED = 9
    CHANGED = 10
    VERIFY_FAILED = 11
    DRIFT = 12
    INTERRUPTED = 130
    TERMINATED = 143


EXIT_CODE_MEANING = {
    ExitCode.OK: "done (with --detailed-exitcode: done and nothing needed changing)",
    ExitCode.INTERNAL: "a bug in deployer: run again with --debug and report the traceback",
    ExitCode.USAGE: "bad command line: unknown option, missing argument, conflicting flags",
    ExitCode.CONFIG: "a cluster, service or chart file is invalid; nothing was changed",
    ExitCode.CREDENTIALS: "a credential is missing, unreadable, expired or revoked",
    ExitCode.TOOL: "an outside tool failed: Terraform, buildah/docker, the image registry",
    ExitCode.API_REJECTED: "a Kubernetes API server refused a request (forbidden, conflict, invalid)",
    ExitCode.FAILED: "the operation failed on every cluster it touched",
    ExitCode.PARTIAL: "the operation succeeded on some clusters and failed on others",
    ExitCode.LOCKED: "another deploy holds the lock for this service and cluster",
    ExitCode.CHANGED: "with --detailed-exitcode only: done, and something was changed",
    ExitCode.VERIFY_FAILED: "an identity has more or less access than the chart grants",
    ExitCode.DRIFT: "status: a cluster runs something other than its newest release record says (drift)",
    ExitCode.INTERRUPTED: "stopped by SIGINT (Ctrl-C): onFailure applied within --grace-period, records settled, "
                          "locks released",
    ExitCode.TERMINATED: "stopped by SIGTERM (a Jenkins abort): as for 130",
}

EXIT_CODE_TABLE = "\n".join(f"{code.value:>3}  {code.name.lower():<14} {EXIT_CODE_MEANING[code]}"
                            for code in ExitCode)


class DeployerError(Exception):
    """Base of every error deployer reports to a user.

    ``message`` says what happened to which thing; ``hint`` says what to do next. Neither may
    contain a secret: callers pass names of credentials, never their values.
    """

    exit_code: ExitCode = ExitCode.INTERNAL
    default_hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, object]:
        return {"error": type(self).__name__, "message": self.message, "hint": self.hint,
                "exit_code": int(self.exit_code)}


class UsageError(DeployerError):
    exit_code = ExitCode.USAGE
    default_hint = "See the command's --help."


class ConfigProblem:
    """One problem in one file: where it is and what is wrong."""

    __slots__ = ("file", "line", "column", "field", "message")

    def __init__(self, file: str, line: int | None, column: int | None, field: str, message: str) -> None:
        self.file = file
        self.line = line
        self.column = column
        self.field = field
        self.message = message

    def location(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return where

    def __str__(self) -> str:
        field = f" {self.field}:" if self.field else ""
        return f"{self.location()}:{field} {self.message}"

    def to_dict(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "column": self.column, "field": self.field,
                "message": self.message}

    def __repr__(self) -> str:
        return f"ConfigProblem({self})"


class ConfigError(DeployerError):
    """One or more files are invalid. All problems found are reported together."""

    exit_code = ExitCode.CONFIG
    default_hint = "Fix the fields named above; `deployer schema` prints the accepted format."

    def __init__(self, problems: list[ConfigProblem], *, hint: str | None = None) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in configuration"
        super().__init__(head + ":\n" + "\n".join(f"  {p}" for p in self.problems), hint=hint)

    def to_dict(self) -> dict[str, object]:
        out = super().to_dict()
        out["problems"] = [p.to_dict() for p in self.problems]
        return out


class CredentialsError(DeployerError):
    exit_code = ExitCode.CREDENTIALS
    default_hint = "Check that the credential the cluster file names is bound (Jenkins withCredentials)."


class ToolError(DeployerError):
    exit_code = ExitCode.TOOL


class ApiError(DeployerError):
    """A Kubernetes API server refused or failed a request."""

    exit_code = ExitCode.API_REJECTED

    def __init__(self, message: str, *, hint: str | None = None, status: int | None = None,
                 reason: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.reason = reason


class ForbiddenError(ApiError):
    default_hint = "The cluster's credential lacks this permission: run `deployer cluster verify` for it."


class ConflictError(ApiError):
    default_hint = "Another field manager owns these fields; re-run with --force-conflicts to take them."


class NotFoundError(ApiError):
    pass


class UnreachableError(ApiError):
    default_hint = "Check the cluster's endpoint and that the API server is up."


class LockedError(DeployerError):
    exit_code = ExitCode.LOCKED
    default_hint = "Wait for it to finish, or pass --wait-for-lock DURATION to wait."


class RolloutError(DeployerError):
    exit_code = ExitCode.FAILED


class VerifyError(DeployerError):
    exit_code = ExitCode.VERIFY_FAILED


class Interrupted(DeployerError):
    """A write or a wait refused because the run (or one cluster's part of it) is stopping: a signal
    (exit 130/143) or a lost deploy lock (``deployer.stopping``)."""

    def __init__(self, message: str, *, exit_code: ExitCode = ExitCode.TERMINATED, hint: str | None = None) -> None:
        super().__init__(message, hint=hint or "The run was stopped; see the report for the release each cluster "
                                                "ends on, then run it again.")
        self.exit_code = exit_code
