"""``%%graphrag_query INDEX [flags]`` — the cell body is the question; the answer streams below.

Argument parsing and display only: the work is :func:`lmsnb.graphrag.query.run_query`. Every
mistake (bad flag, a name that is not an index, an index without what the method needs, no
server) ends as one line on stderr with the fix, never a traceback.

```
%%graphrag_query idx --method global --level 1 -o res
What are the main themes of the story?
```
"""

from __future__ import annotations

import html
from typing import Any

from IPython.core.magic import Magics, cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from ..errors import ConfigError
from ..magics import guard, parse_flags, plain_help
from .query import METHODS, QueryResult, run_query

__all__ = ["GraphRAGMagics", "register"]

USAGE = "%%graphrag_query? for the flags"




@magics_class
class GraphRAGMagics(Magics):
    """The ``%%graphrag_query`` cell magic. ``last`` holds the most recent result."""

    last: QueryResult | None = None

    @plain_help("%%")
    @magic_arguments()
    @argument("index", help="name of a GraphIndex variable in the notebook")
    @argument("-m", "--method", default="local", help=f"one of {', '.join(METHODS)}")
    @argument("-l", "--level", type=int, help="community level (default 2)")
    @argument("-k", "--top-k", type=int,
              help="entities to match (local/DRIFT, default 10) or text units (basic, 10)")
    @argument("-b", "--max-tokens", "--budget", dest="max_tokens", type=int,
              help="context token budget (default 12000)")
    @argument("-r", "--response-type", help='answer shape (default "Multiple Paragraphs")')
    @argument("--model", help="LLM key (default: the first loaded LLM)")
    @argument("--embedding-model", help="embedding model key (default: the index's own)")
    @argument("--history", help="variable holding an earlier result: ask a follow-up")
    @argument("-o", "--out", help="store the QueryResult in this notebook variable")
    @argument("--no-stream", action="store_true", help="wait for the whole answer")
    @argument("--graph", action="store_true", help="show the graph with the context highlighted")
    @argument("--raw", action="store_true", help="do not interpolate {var} in the question")
    @cell_magic
    def graphrag_query(self, line: str, cell: str) -> None:
        """Ask a GraphIndex a question (local, global, basic or DRIFT search).

        The answer streams into the cell; its citations follow as an expandable table. Notebook
        variables are filled in with {name}. Example:

            %%graphrag_query idx --method local --top-k 5 -o res
            Who is Scrooge, and how does he change?
        """
        self._query(line, cell)

    @guard(USAGE)
    def _query(self, line: str, cell: str) -> None:
        args = parse_flags(self.graphrag_query, line)
        ns = self.shell.user_ns
        idx = self._index(ns, args.index)
        if args.out is not None:
            from .index import GraphIndex

            if not args.out.isidentifier():
                raise ConfigError(f"-o {args.out!r} is not a valid variable name",
                                  hint="use letters, digits and _ (not starting with a digit)")
            if isinstance(ns.get(args.out), GraphIndex):
                raise ConfigError(f"-o {args.out} would replace the GraphIndex in {args.out!r}",
                                  hint="store the result under another name, e.g. -o res")
        question = cell if args.raw else _interpolate(cell, ns)
        if not question.strip():
            raise ConfigError("the question is empty", hint="write it in the cell body")
        method = args.method.lower()
        params: dict[str, Any] = {"community_level": args.level,
                                  "max_context_tokens": args.max_tokens,
                                  "response_type": args.response_type}
        if args.top_k is not None:
            params["k" if method == "basic" else "top_k_entities"] = args.top_k
        params = {k: v for k, v in params.items() if v is not None}
        history = None
        if args.history:
            history = ns.get(args.history)
            if not isinstance(history, QueryResult):
                raise ConfigError(f"{args.history!r} is not a query result",
                                  hint="store one with -o NAME, then pass --history NAME")
        kw = dict(method=method, model=args.model, embedding_model=args.embedding_model,
                  history=history, **params)
        if args.no_stream:
            result = run_query(idx, question, stream=False, **kw)
            self._show_answer(result)
        else:
            from ..widgets.stream import render_stream

            events = run_query(idx, question, stream=True, **kw)
            done = render_stream(events, title=f"GraphRAG {method} search · {args.index}")
            result = done.parsed
        self.last = result
        self._show_citations(result)
        if args.out:
            ns[args.out] = result
        if args.graph:
            self._show_graph(idx, result)

    @staticmethod
    def _index(ns: dict[str, Any], name: str) -> Any:
        from .index import GraphIndex

        if name not in ns:
            raise ConfigError(f"no variable named {name!r} in the notebook",
                              hint="load an index first, e.g. idx = GraphIndex.from_parquet(folder)")
        idx = ns[name]
        if not isinstance(idx, GraphIndex):
            raise ConfigError(f"{name!r} is a {type(idx).__name__}, not a GraphIndex",
                              hint="pass the name of a GraphIndex variable")
        return idx

    @staticmethod
    def _show_answer(result: QueryResult) -> None:
        from IPython.display import Markdown, display

        display(Markdown(result.answer))

    @staticmethod
    def _show_citations(result: QueryResult) -> None:
        from IPython.display import HTML, display

        display(HTML(result.citations_html()))

    @staticmethod
    def _show_graph(idx: Any, result: QueryResult) -> None:
        from IPython.display import HTML, display

        try:
            from ..graphview import GraphView
        except Exception as exc:  # noqa: BLE001 - the graph is optional
            display(HTML(f"<i>graph view unavailable: {html.escape(str(exc))}</i>"))
            return
        display(GraphView(idx).highlight(result))


def _interpolate(text: str, ns: dict[str, Any]) -> str:
    from ..magics import interpolate

    return interpolate(text, ns)


def register(ipython: Any) -> GraphRAGMagics:
    """Register ``%%graphrag_query`` on an IPython shell (``%load_ext lmsnb`` calls this)."""
    magics = GraphRAGMagics(ipython)
    ipython.register_magics(magics)
    return magics
