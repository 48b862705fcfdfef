"""IPython magics: parse arguments, delegate to the Python API, render with the widgets.

Every failure a user can cause (bad flag, unknown model, unreachable server, bad config value)
ends as one readable line on stderr with the fix — never a traceback from lmsnb or the SDK.

- ``%%lms_chat [flags]`` — the cell body is the prompt (``{var}`` interpolates, ``{{`` escapes).
- ``%lms_models [load|unload|ttl|info|loaded|downloaded|manager] …`` — model table and actions.
- ``%lms_host [HOST]``, ``%lms_config [key=value …]`` — where to connect, defaults for chats.
- ``%lms_stats`` — every prediction of the kernel; ``%lms_history`` — a session's messages;
  ``%lms_embed VAR`` — embed a list of texts; ``%lms_chat_panel`` — the chat panel widget.
"""

from __future__ import annotations

import argparse
import difflib
import functools
import inspect
import json
import keyword
import os
import re
import shlex
import string
import sys
from _string import formatter_field_name_split as _formatter_field_name_split
from collections.abc import Callable, Mapping
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import (
    Magics,
    cell_magic,
    line_cell_magic,
    line_magic,
    magics_class,
    no_var_expand,
)
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.utils.text import DollarFormatter

from . import chat as chat_api
from . import client
from . import config as cfg
from .errors import ConfigError, LmsnbError
from .images import Image, to_images
from .widgets import stream as stream_view

__all__ = ["LmsMagics", "register", "interpolate", "report_error", "plain_help"]


def plain_help(prefix: str = "%") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Make ``%magic?`` read as plain text: IPython's magic_arguments starts the help with a
    reStructuredText ``::`` and an indented usage line; keep the usage, spelled with ``prefix``
    (``%%`` for cell magics). Docstrings of magics are written for that help: no markup."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        doc = fn.__doc__ or ""
        if doc.startswith("::\n\n  %"):
            usage, _, rest = doc[len("::\n\n  %"):].partition("\n\n")
            usage = "\n".join(line[2:] if line.startswith("  ") else line
                              for line in usage.splitlines())
            fn.__doc__ = f"{prefix}{usage}\n\n{rest}"
        return fn

    return deco


def report_error(message: str) -> None:
    """One line on stderr (Jupyter shows stderr on a red background)."""
    print(f"lmsnb: {message}", file=sys.stderr)


def guard(usage: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Turn every expected failure into one line with the fix."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except LmsnbError as exc:
                report_error(str(exc))
            except _HelpShown:
                pass
            except UsageError as exc:
                report_error(f"{str(exc).strip().splitlines()[-1]} — see {usage}")
            except SystemExit:
                report_error(f"invalid arguments — see {usage}")
            except KeyboardInterrupt:
                report_error("interrupted")
            except Exception as exc:  # noqa: BLE001 - the promise is: no tracebacks
                report_error(f"unexpected {type(exc).__name__}: {exc} — please report this "
                             "at the lmsnb issue tracker")
            return None

        return wrapper

    return deco


class _HelpShown(UsageError):
    """``-h`` / ``--help`` on a magic: its help was printed, nothing else to do."""


def _check_var(name: str, flag: str = "--var") -> str:
    """A notebook variable name the result can be stored in (checked before any work)."""
    if not name.isidentifier() or keyword.iskeyword(name):
        raise ConfigError(f"{flag} {name!r} is not a Python name",
                          hint="use letters, digits and _, e.g. -o answer")
    return name


class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of exiting."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        raise UsageError(message)

    def exit(self, status: int = 0, message: str | None = None) -> Any:  # type: ignore[override]
        if message:
            raise UsageError(message)
        raise UsageError("see the help above")


class _Namespace(Mapping[str, Any]):
    """A read-only view of the notebook namespace for ``str.format`` with a clear miss message."""

    def __init__(self, ns: Mapping[str, Any]) -> None:
        self.ns = ns

    def __getitem__(self, key: str) -> Any:
        if key in self.ns:
            return self.ns[key]
        raise ConfigError(f"unknown variable {{{key}}} in the prompt",
                          hint=f"define {key} in a cell above, or write {{{{{key}}}}} for literal "
                               "braces")

    def __iter__(self) -> Any:
        return iter(self.ns)

    def __len__(self) -> int:
        return len(self.ns)


def _shown(field: str, limit: int = 40) -> str:
    """``{field}`` on one short line, for messages (a code block's braces can span lines)."""
    text = " ".join(("{" + field + "}").split())
    return text if len(text) <= limit else text[:limit - 2] + "…}"


_BRACES_HINT = "write {{ and }} for literal braces (code, JSON), or use --raw"
_DOLLAR = DollarFormatter()  # IPython's own expansion of magic lines
_WHOLE_FIELD = re.compile(r"\{[^{}]+\}")  # --image {fig}: the object, not its text


class _PromptFormatter(string.Formatter):
    """``str.format`` on the notebook namespace whose every failure names the field."""

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> Any:
        first, _rest = _formatter_field_name_split(field_name)
        if first == "" or isinstance(first, int):  # {} (numbered 0 by vformat) or {0}
            raise ConfigError("empty {} in the prompt (no variable name)",
                              hint="put a variable name inside, or write {{}} for literal "
                                   "braces")
        if not first.isidentifier():
            raise ConfigError(f"{_shown(field_name)} in the prompt is not a {{variable}}",
                              hint=_BRACES_HINT)
        try:
            return super().get_field(field_name, args, kwargs)
        except LmsnbError:
            raise
        except IndexError:
            raise ConfigError(f"{_shown(field_name)} in the prompt: index out of range",
                              hint="check the index, or " + _BRACES_HINT) from None
        except KeyError as exc:
            raise ConfigError(f"{_shown(field_name)} in the prompt: no key "
                              f"{exc.args[0] if exc.args else ''!r}",
                              hint="check the key, or " + _BRACES_HINT) from None
        except (AttributeError, TypeError, ValueError) as exc:
            raise ConfigError(f"{_shown(field_name)} in the prompt: {exc}",
                              hint="check the expression, or " + _BRACES_HINT) from None

    def format_field(self, value: Any, format_spec: str) -> Any:
        try:
            return super().format_field(value, format_spec)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"cannot format a {type(value).__name__} with "
                              f"':{format_spec}' in the prompt: {exc}",
                              hint="fix the format spec, or " + _BRACES_HINT) from None


def interpolate(text: str, ns: Mapping[str, Any]) -> str:
    """``{name}``, ``{name.attr}``, ``{name[0]}`` and ``{x:.2f}`` from ``ns``; ``{{`` → ``{``."""
    if not isinstance(text, str):
        raise ConfigError("the prompt is empty", hint="write the question in the cell body")
    try:
        return _PromptFormatter().vformat(text, (), _Namespace(ns))
    except LmsnbError:
        raise
    except (ValueError, AttributeError, KeyError, TypeError, IndexError) as exc:
        raise ConfigError(f"cannot fill the prompt's {{…}} fields: {exc}",
                          hint=_BRACES_HINT) from None


def _models_parser() -> _Parser:
    p = _Parser(prog="%lms_models", add_help=False)
    sub = p.add_subparsers(dest="cmd")
    sub.add_parser("list", add_help=False)
    sub.add_parser("loaded", add_help=False)
    sub.add_parser("downloaded", add_help=False)
    sub.add_parser("manager", add_help=False)
    load = sub.add_parser("load", add_help=False)
    load.add_argument("key")
    load.add_argument("--identifier", "--id")
    load.add_argument("--new", action="store_true")
    load.add_argument("--ttl")
    load.add_argument("--context", type=int)
    load.add_argument("--gpu")
    unload = sub.add_parser("unload", add_help=False)
    unload.add_argument("identifier", nargs="?")
    unload.add_argument("--all", action="store_true")
    ttl = sub.add_parser("ttl", add_help=False)
    ttl.add_argument("key")
    ttl.add_argument("seconds")
    info = sub.add_parser("info", add_help=False)
    info.add_argument("identifier", nargs="?")
    return p


def split_words(line: str) -> list[str]:
    """Shell-like words (quotes group, backslashes escape); a stray quote is a UsageError."""
    try:
        return shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"cannot parse the flags: {exc}") from None


def parse_flags(magic: Any, line: str) -> argparse.Namespace:
    """Parse a magic's flags with POSIX quoting (IPython's parse_argstring keeps the quotes).

    Errors become one ``UsageError`` line; an unknown flag names the closest real one.
    """
    parser = magic.parser
    words = split_words(line)
    if any(w in ("-h", "--help") for w in words) and "-h" not in parser._option_string_actions:
        print(inspect.getdoc(magic))
        raise _HelpShown("help shown")
    seen: dict[str, str] = {}
    for word in words:
        action = parser._option_string_actions.get(word.split("=", 1)[0])
        if (action is None or action.nargs == 0 or action.nargs is not None
                or isinstance(action, argparse._AppendAction)):
            continue  # flags like --once, repeatable ones like --image, and values
        if action.dest in seen:
            raise UsageError(f"{action.option_strings[-1]} is given twice; keep one")
        seen[action.dest] = word
    try:
        return parser.parse_args(words)
    except UsageError as exc:
        message = str(exc).strip().splitlines()[-1]
        unknown = [w.split("=")[0] for w in words if w.startswith("-")
                   and w.split("=")[0] not in parser._option_string_actions]
        close = difflib.get_close_matches(unknown[0], list(parser._option_string_actions),
                                          n=1, cutoff=0.6) if unknown else []
        if close:
            message += f" (did you mean {close[0]}?)"
        raise UsageError(message) from None


_CONFIG_KEYS = {"model", "system", "session", "format", "wait", "timeout"}


@magics_class
class LmsMagics(Magics):
    """The chat, model and monitor magics. ``defaults`` is what ``%lms_config`` sets."""

    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self.defaults: dict[str, Any] = {}
        self._timeout_before = client.get_timeout()  # what %lms_config --reset goes back to

    # -- %%lms_chat ------------------------------------------------------------------------

    @plain_help("%%")
    @magic_arguments()
    @argument("-m", "--model", help="model key or identifier (default: the first loaded LLM)")
    @argument("-s", "--system", help="system prompt (sets it on the session)")
    @argument("-t", "--temperature", type=float, help="sampling temperature")
    @argument("-n", "--max-tokens", help="maximum tokens to generate (or 'unlimited')")
    @argument("-p", "--top-p", type=float, help="top-p sampling")
    @argument("-S", "--session", help="named conversation (default: 'default')")
    @argument("--new", "--reset", dest="new", action="store_true",
              help="start the session afresh (keeps nothing, not even the system prompt)")
    @argument("--once", action="store_true", help="one-shot: no history sent or kept")
    @argument("-o", "--var", help="store the reply text in this notebook variable")
    @argument("-f", "--format", choices=stream_view.FORMATS, help="render as markdown/text/code")
    @argument("--tools", help="comma-separated notebook functions the model may call")
    @argument("--raw", action="store_true", help="do not interpolate {var} in the prompt")
    @argument("-i", "--image", action="append", metavar="IMAGE",
              help="send an image to a vision model: a file path, or {var} for a notebook "
                   "variable (matplotlib Figure, PIL image, bytes, path, or a list); repeatable")
    @argument("--wait", action="store_true",
              help="block until the answer is complete (stop with Kernel → Interrupt); "
                   "also the default when $LMSNB_WAIT=1, e.g. for nbconvert/nbclient runs")
    @cell_magic
    @no_var_expand  # _expand_line does it, leaving --image {fig} for the object itself
    def lms_chat(self, line: str, cell: str) -> None:
        """Chat with a local model: the cell body is the prompt, the answer streams below.

        Notebook variables are filled in with {name}; write {{ and }} for literal braces.
        The answer streams in the background so the Stop button works; the next cell waits
        for it. Examples:

            %%lms_chat -t 0.2 --session poems -o haiku
            Write a haiku about {topic}.

            %%lms_chat --model qwen2-vl-2b-instruct --image {fig} --image photo.jpg
            What does the plot show, and how does it compare with the photo?
        """
        self._chat(line, cell)

    @guard("%%lms_chat? for the flags")
    def _chat(self, line: str, cell: str) -> None:
        args = parse_flags(self.lms_chat, self._expand_line(line))
        d = self.defaults
        prompt = (cell if args.raw else interpolate(cell, self.shell.user_ns)).strip()
        if not prompt.strip():
            raise ConfigError("the prompt is empty", hint="write the question in the cell body")
        config = dict(d.get("config", {}))
        for key, value in (("temperature", args.temperature), ("maxTokens", args.max_tokens),
                           ("topPSampling", args.top_p)):
            if value is not None:
                config[key] = value
        if config:
            config = cfg.normalize_prediction_config(config)  # bad values fail here, early
        model = args.model or d.get("model")
        fmt = args.format or d.get("format", "markdown")
        wait = (args.wait or bool(d.get("wait")) or os.environ.get("LMSNB_WAIT") == "1"
                or not stream_view.in_kernel())
        name = args.session or d.get("session") or "default"
        # Everything that can be refused is checked before the session changes: a refused
        # cell leaves the conversation exactly as it was.
        var = _check_var(args.var) if args.var else None
        tools = self._tools(args.tools) if args.tools is not None else None
        images = self._images(args.image or [])
        if args.once:
            session = chat_api.Session(args.system or d.get("system"), model=model)
        else:
            session = chat_api.get_session(name)
            if args.new:
                session.reset(keep_system=False)
            if args.system is not None:
                session.system = args.system
            elif session.system is None and d.get("system") and not session.history:
                session.system = d["system"]
        if tools is not None:
            events = session.act(prompt, tools, images=images, config=config, model=model)
        else:
            events = session.stream(prompt, images=images, config=config, model=model,
                                    remember=not args.once)
        if var:
            user_ns = self.shell.user_ns
            events.add_done_callback(lambda done: user_ns.__setitem__(var, done.text))
        title = f"{name}" if not args.once and name != "default" else None
        if wait:
            stream_view.render_stream(events, title=title, fmt=fmt)
        else:
            stream_view.start_stream(events, title=title, fmt=fmt)

    def _expand_line(self, line: str) -> str:
        """IPython's ``{var}``/``$var`` expansion of the flags, word by word (so a value with
        spaces stays one word), except ``--image`` values: there ``{fig}`` means the object."""
        words = split_words(line)
        out = []
        for i, word in enumerate(words):
            after_image = i > 0 and words[i - 1] in ("-i", "--image")
            if not (after_image or word.startswith(("-i=", "--image="))):
                try:
                    word = _DOLLAR.vformat(word, args=[], kwargs=self.shell.user_ns)
                except Exception:  # noqa: BLE001, S110 - as IPython: left as written
                    pass
            out.append(word)
        return shlex.join(out)

    def _images(self, values: list[str]) -> list[Image]:
        """``--image`` values: ``{expr}`` is the notebook object itself (a Figure, a list…);
        anything else is a path, whose ``{var}`` fields are filled in like the prompt's."""
        images: list[Image] = []
        ns = self.shell.user_ns
        for value in values:
            try:
                if _WHOLE_FIELD.fullmatch(value):
                    obj, _ = _PromptFormatter().get_field(value[1:-1], (), _Namespace(ns))
                else:
                    obj = interpolate(value, ns)
            except ConfigError as exc:  # the prompt's wording, said of the flag
                what = exc.message.replace(" in the prompt", "").removeprefix(value + ": ")
                raise ConfigError(f"--image {value}: {what}", hint=exc.hint) from None
            images += to_images(obj)
        return images

    def _tools(self, names: str) -> list[Callable[..., Any]]:
        tools = []
        for name in (n.strip() for n in names.split(",") if n.strip()):
            fn = self.shell.user_ns.get(name)
            if not callable(fn):
                raise ConfigError(f"--tools: {name!r} is not a function in the notebook",
                                  hint="define it with def in a cell above")
            tools.append(fn)
        if not tools:
            raise ConfigError("--tools needs the names of notebook functions",
                              hint="e.g. --tools add,get_weather")
        return tools

    # -- %lms_models -----------------------------------------------------------------------

    @line_magic
    def lms_models(self, line: str = "") -> Any:
        """List, load and unload models, set their TTL, or open the model manager.

          %lms_models              every downloaded model, loaded ones first
          %lms_models loaded       the loaded instances (context, TTL, size)
          %lms_models downloaded   every downloaded model with all its details
          %lms_models manager      the model manager widget (load with a progress bar)
          %lms_models load KEY [--identifier ID] [--new] [--ttl 10m] [--context 8192]
                               [--gpu 0.5|max|off]
          %lms_models unload ID    (or: unload --all)
          %lms_models ttl KEY 10m  unload KEY after 10 idle minutes
          %lms_models info [ID]    one loaded instance (default: the default LLM)
        """
        return self._models(line)

    @guard("%lms_models? for the sub-commands")
    def _models(self, line: str) -> Any:
        from . import models

        words = split_words(line)
        if words and words[0] in ("-h", "--help", "help"):
            print(self.lms_models.__doc__)
            return None
        if words and words[0] not in ("list", "loaded", "downloaded", "manager", "load",
                                      "unload", "ttl", "info"):
            close = difflib.get_close_matches(words[0], ["list", "loaded", "downloaded",
                                                         "manager", "load", "unload", "ttl",
                                                         "info"], n=1)
            hint = f"did you mean {close[0]!r}?" if close else "see %lms_models?"
            raise ConfigError(f"unknown sub-command {words[0]!r}", hint=hint)
        args = _models_parser().parse_args(words)
        cmd = args.cmd or "list"
        if cmd == "list":
            return models.table()
        if cmd == "loaded":
            return models.loaded()
        if cmd == "downloaded":
            return models.downloaded()
        if cmd == "manager":
            from .widgets.model_manager import ModelManager

            return ModelManager()
        if cmd == "load":
            gpu: Any = args.gpu
            if gpu is not None and gpu not in ("max", "off"):
                try:
                    gpu = float(gpu)
                except ValueError:
                    raise ConfigError(f"--gpu {gpu!r} is not a number",
                                      hint="use a ratio 0..1, 'max' or 'off'") from None
            models.load(args.key, identifier=args.identifier, new_instance=args.new,
                        ttl=args.ttl, context_length=args.context, gpu=gpu)
            return None
        if cmd == "unload":
            if args.all and args.identifier:
                raise ConfigError(f"unload {args.identifier} or unload --all, not both",
                                  hint="%lms_models unload ID (or --all)")
            if args.all:
                ids = models.unload_all()
                print(f"unloaded {', '.join(ids) or 'nothing'}")
            elif args.identifier:
                models.unload(args.identifier)
                print(f"unloaded {args.identifier}")
            else:
                raise ConfigError("which model?", hint="%lms_models unload ID (or --all)")
            return None
        if cmd == "ttl":
            inst = models.set_ttl(args.key, args.seconds)
            print(f"{inst.get('identifier')}: TTL set to {cfg.parse_ttl(args.seconds)} s")
            return None
        if cmd == "info":
            return models.info(args.identifier)
        return None

    # -- %lms_host / %lms_config -----------------------------------------------------------

    @line_magic
    def lms_host(self, line: str = "") -> None:
        """Show the LM Studio server (%lms_host), connect to another (%lms_host HOST:PORT), or
        to several (%lms_host HOST1:PORT HOST2:PORT: GraphRAG spreads its calls over them)."""
        self._host(line)

    @guard("%lms_host?")
    def _host(self, line: str) -> None:
        host = line.strip()
        if host:
            conn = client.connect(host)
            print(f"connected to {conn.label}")
        else:
            conn = client.get_connection()
            for name in getattr(conn, "hosts", [conn.host]):
                state = "reachable" if client.is_reachable(name) else "NOT reachable"
                print(f"LM Studio at {name} ({state})")

    @line_magic
    def lms_config(self, line: str = "") -> None:
        """Defaults for %%lms_chat, e.g. %lms_config temperature=0.2 model=qwen format=text

        Keys: model, system, session, format, wait, timeout (seconds) and any prediction
        setting (temperature, maxTokens, topP, …). %lms_config --reset clears them.
        """
        self._config(line)

    @guard("%lms_config?")
    def _config(self, line: str) -> None:
        words = split_words(line)
        reset = "--reset" in words
        words = [w for w in words if w != "--reset"]
        pred: dict[str, Any] = {} if reset else dict(self.defaults.get("config", {}))
        updates: dict[str, Any] = {}
        unset: list[str] = []
        for word in words:
            if "=" not in word or not word.split("=", 1)[0]:
                raise ConfigError(f"{word!r} is not key=value",
                                  hint="e.g. %lms_config temperature=0.2 (or --reset)")
            key, raw = word.split("=", 1)
            if key in _CONFIG_KEYS:
                value = _config_value(key, raw)
                if value is None and key != "timeout":
                    unset.append(key)  # model= / model=none: back to the default
                else:
                    updates[key] = value
            else:
                name = cfg.canonical_prediction_key(key)  # "did you mean" for a typo
                pred.pop(name, None)
                pred[name] = _parse_value(raw)
        if pred:
            cfg.normalize_prediction_config(pred)  # bad values fail here, before any change
        # Everything is valid: apply it all.
        if reset:
            self.defaults.clear()
            client.set_timeout(self._timeout_before)
        if "timeout" in updates:
            client.set_timeout(updates["timeout"])
        for key in unset:
            self.defaults.pop(key, None)
        self.defaults.update(updates)
        if pred:
            self.defaults["config"] = pred
        elif reset:
            self.defaults.pop("config", None)
        if reset and not words:
            print("lmsnb defaults cleared")
            return
        shown = dict(self.defaults)
        print("lmsnb defaults: " + (json.dumps(shown, default=str) if shown else "none"))

    # -- %lms_stats / %lms_history / %lms_embed --------------------------------------------

    @line_magic
    def lms_stats(self, line: str = "") -> Any:
        """Every prediction of this kernel: %lms_stats (summary and rows), %lms_stats --plot
        (tokens/s over time), %lms_stats --reset (forget them)."""
        return self._stats(line)

    @guard("%lms_stats?")
    def _stats(self, line: str) -> Any:
        from .monitor import clear, monitor

        words = split_words(line)
        if "--reset" in words:
            clear()
            print("prediction stats cleared")
            return None
        unknown = [w for w in words if w not in ("--plot",)]
        if unknown:
            raise ConfigError(f"unknown option {unknown[0]!r}", hint="use --plot or --reset")
        mon = monitor()
        if "--plot" in words:
            return mon.plot()
        return mon

    @plain_help()
    @magic_arguments()
    @argument("-S", "--session", default=None, help="session name (default: 'default')")
    @argument("--save", help="write the session to this JSON file")
    @argument("--load", help="replace the session by one saved to this JSON file")
    @argument("--undo", action="store_true", help="drop the last exchange")
    @argument("--reset", action="store_true", help="forget the conversation")
    @line_magic
    def lms_history(self, line: str = "") -> Any:
        """Show, save, load, undo or reset a chat session's history."""
        return self._history(line)

    @guard("%lms_history?")
    def _history(self, line: str) -> Any:
        args = parse_flags(self.lms_history, line)
        actions = [flag for flag, on in (("--save", args.save is not None),
                                         ("--load", args.load is not None),
                                         ("--undo", args.undo), ("--reset", args.reset)) if on]
        if len(actions) > 1:
            raise UsageError(f"{' and '.join(actions)} together: give one at a time")
        for flag, path in (("--save", args.save), ("--load", args.load)):
            if path is not None and not path.strip():
                raise ConfigError(f"{flag} needs a file name", hint=f"e.g. {flag} notes.json")
        default = self.defaults.get("session") or "default"
        name = args.session or default
        if args.load is not None:
            loaded = chat_api.Session.load(args.load)  # fails before the session is replaced
            loaded.name = name
            chat_api._sessions[name] = loaded
            print(f"session {name!r} loaded from {args.load} ({len(loaded.history)} messages)")
            return None
        if name == default:
            session = chat_api.get_session(name)
        else:
            session = _existing_session(name)
        if args.save is not None:
            session.save(args.save)
            print(f"session {name!r} saved to {args.save}")
            return None
        if args.undo:
            removed = session.undo()
            print(f"removed {len(removed)} messages from {name!r}")
            return None
        if args.reset:
            session.reset()
            print(f"session {name!r} reset")
            return None
        return session.messages()

    @plain_help()
    @magic_arguments()
    @argument("source", help="notebook variable holding a string, a list of strings or a Series")
    @argument("-m", "--model", help="embedding model (default: the first loaded one)")
    @argument("-o", "--var", default="embeddings", help="variable for the result")
    @argument("--df", action="store_true", help="store a DataFrame (text, embedding)")
    @line_magic
    def lms_embed(self, line: str = "") -> None:
        """Embed the texts in a notebook variable, e.g. %lms_embed texts -o vectors"""
        self._embed(line)

    @guard("%lms_embed?")
    def _embed(self, line: str) -> None:
        from .embed import embed, embed_df

        args = parse_flags(self.lms_embed, line)
        var = _check_var(args.var)
        if args.source not in self.shell.user_ns:
            raise ConfigError(f"no notebook variable called {args.source!r}",
                              hint="pass the name of a list of strings")
        texts = self.shell.user_ns[args.source]
        result = embed_df(texts, args.model) if args.df else embed(texts, args.model)
        self.shell.user_ns[var] = result
        print(f"{var} = {type(result).__name__} of shape {result.shape}")

    @line_cell_magic
    def lms_chat_panel(self, line: str = "", cell: str | None = None) -> Any:
        """A chat panel widget (model picker, history, Send, Stop): %lms_chat_panel [SESSION]"""
        return self._panel(line)

    @guard("%lms_chat_panel?")
    def _panel(self, line: str) -> Any:
        from .widgets.chat_panel import ChatPanel

        return ChatPanel(session=line.strip() or "default")


def _existing_session(name: str) -> chat_api.Session:
    """A named session that must exist already (a typo must not show an empty history)."""
    known = chat_api.sessions()
    if name in known:
        return known[name]
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = (f"did you mean {close[0]!r}?" if close else
            f"known sessions: {', '.join(known)}" if known else
            "no chat session yet: start one with %%lms_chat -S NAME")
    raise ConfigError(f"no chat session called {name!r}", hint=hint)


def _config_value(key: str, raw: str) -> Any:
    """Check one of ``%lms_config``'s own keys; ``None`` means "unset"."""
    text = raw.strip()
    if text.lower() in ("", "none", "null"):
        return None
    if key in ("model", "system", "session"):
        return raw  # text as typed: model=7 or system=42 stay strings
    if key == "format":
        if text not in stream_view.FORMATS:
            raise ConfigError(f"format={text!r} is not one of {', '.join(stream_view.FORMATS)}")
        return text
    if key == "wait":
        value = _parse_value(text)
        if not isinstance(value, bool):
            raise ConfigError(f"wait={raw!r} is not true or false", hint="e.g. wait=true")
        return value
    value = _parse_value(text)  # timeout
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0 or \
            value == float("inf"):
        raise ConfigError(f"timeout={raw!r} is not a positive number of seconds",
                          hint="e.g. timeout=120, or timeout=none to wait forever")
    return value


def _parse_value(raw: str) -> Any:
    """``0.2`` → float, ``true`` → True, ``none`` → None, ``[1,2]`` → list, else the string."""
    low = raw.lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    if low in ("none", "null"):
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _before_cell(*_args: Any) -> None:
    """Barrier: a cell waits for answers still streaming from earlier cells ("Run All" order)."""
    if stream_view.pending():
        stream_view.wait_pending()


def register(ipython: Any) -> LmsMagics:
    """Register the magics (and the streaming barrier) on an IPython shell."""
    magics = LmsMagics(ipython)
    ipython.register_magics(magics)
    try:
        ipython.events.unregister("pre_run_cell", _before_cell)
    except ValueError:
        pass
    ipython.events.register("pre_run_cell", _before_cell)
    return magics
