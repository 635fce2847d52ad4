"""Help pages that show what a person types: an argument appears as its name (``FILE``, or
``[JOB]`` when it may be left out), never with the library's type names (``<path>``) or the
braces it marks required arguments with (``{FILE}``)."""

from __future__ import annotations

from typing import Any

from typer.core import TyperCommand


class PlainHelpCommand(TyperCommand):
    """A command whose usage line and argument list name arguments as the user types them."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = _name(param)
                pieces.append(name if param.required else f"[{name}]")
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        arguments: list[tuple[str, str]] = []
        options: list[tuple[str, str]] = []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                arguments.append((_name(param), record[1]))
            else:
                options.append(record)
        if arguments:
            with formatter.section("Arguments"):
                formatter.write_dl(arguments)
        if options:
            with formatter.section("Options"):
                formatter.write_dl(options)


def _name(param: Any) -> str:
    return param.metavar or (param.name or "").upper()
