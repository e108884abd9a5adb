"""Errors the user can cause; the CLI prints them without a traceback."""


class ReproError(Exception):
    """A problem with the user's input or environment, with a message that says what and where."""


class ConfigError(ReproError):
    """A config file, section, key or value that is unknown or of the wrong type; the message names the key."""


class DataError(ReproError):
    """Bad input data: the message names the file, the line and the problem."""

    def __init__(self, problem: str, path: object = None, line: int | None = None) -> None:
        where = ""
        if path is not None:
            where = f"{path}"
            if line is not None:
                where += f", line {line}"
            where += ": "
        super().__init__(where + problem)
        self.path = path
        self.line = line
        self.problem = problem


class Interrupted(ReproError):
    """Work stopped on request (a signal) after saving what it had done: the same command resumes it.
    ``exit_code`` is the shell's 128 + signal number, so schedulers see the signal."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code
