"""The language server: the protocol's handlers, and checking the campaign of every open file as it changes.

Checks run one at a time in a worker thread, so answers to hover, completion and the rest never wait for
one; edits that arrive while a check runs are folded into the next check, which reads the latest texts.
Diagnostics are published for every file of the campaign, with the version of the text they were found in.
"""

from __future__ import annotations

import asyncio
import logging
import re
from importlib.metadata import version
from pathlib import Path

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path
from pygls.workspace import TextDocument

from dsl.campaign import Campaign
from dsl.completion import expected_at
from dsl.errors import DslError
from dsl.formatter import format_source
from dsl.navigation import Kind, Reference, definition, reference_at
from dsl.source import UNKNOWN
from dsl.workspace import campaign_root, load_edited
from engine.lsp.analysis import Analyzer, Snapshot
from engine.lsp.complete import completion_items
from engine.lsp.convert import to_diagnostic, to_range, uri_of
from engine.lsp.hover import keyword_hover, name_hover

log = logging.getLogger(__name__)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:-[a-z]+)?(?:\.[A-Za-z0-9_]+)*")


class NurtureServer(LanguageServer):
    """`nurture lsp`: checks, explains, completes and formats `.nurture` files."""

    def __init__(self) -> None:
        super().__init__("nurture", version("nurture"), text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.analyzer = Analyzer()
        self._pending: set[Path] = set()
        self._checking: asyncio.Task[None] | None = None
        #: per campaign root, the files whose diagnostics were last published (to clear them when fixed)
        self._published: dict[Path, set[str]] = {}

    # --- the editor's texts -----------------------------------------------------------------------------

    def texts(self) -> tuple[dict[Path, str], dict[Path, int | None]]:
        """The open files' texts and versions, by path."""
        texts: dict[Path, str] = {}
        versions: dict[Path, int | None] = {}
        for doc in list(self.workspace.text_documents.values()):
            path = _path(doc.uri)
            if path is not None:
                texts[path] = doc.source
                versions[path] = doc.version
        return texts, versions

    def snapshot(self, path: Path) -> Snapshot:
        return self.analyzer.snapshot(path, self.texts()[0])

    # --- checking on change -----------------------------------------------------------------------------

    def check_soon(self, uri: str) -> None:
        path = _path(uri)
        if path is None or path.suffix != ".nurture":
            return
        self._schedule({campaign_root(path)})

    def check_all_soon(self) -> None:
        """Check again every campaign checked so far: files changed on disk (a template, a `git checkout`)."""
        self._schedule(set(self._published))

    def _schedule(self, roots: set[Path]) -> None:
        self._pending |= roots
        if self._pending and (self._checking is None or self._checking.done()):
            self._checking = asyncio.get_running_loop().create_task(self._check_pending())

    async def _check_pending(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            await asyncio.sleep(0)  # let edits already received land before the texts are read
            root = self._pending.pop()
            texts, versions = self.texts()
            try:
                campaign = await loop.run_in_executor(None, load_edited, root, texts)
            except Exception:  # a bug in a check must not end checking while the server runs
                log.exception("checking the campaign in %s failed", root)
                self.window_show_message(types.ShowMessageParams(
                    type=types.MessageType.Error, message=f"nurture: checking {root} failed; see the server's log"))
                continue
            self._publish(root, campaign, versions)

    def _publish(self, root: Path, campaign: Campaign, versions: dict[Path, int | None]) -> None:
        by_path: dict[str, list[types.Diagnostic]] = {str(p): [] for p in campaign.paths}
        codec = self.workspace.position_codec
        for diag in campaign.diagnostics:
            by_path.setdefault(diag.span.path, []).append(to_diagnostic(diag, campaign.sources, codec))
        for stale in self._published.get(root, set()) - set(by_path):
            by_path[stale] = []
        self._published[root] = {p for p, found in by_path.items() if found}
        for path, found in sorted(by_path.items()):
            self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(
                uri=uri_of(path), diagnostics=found, version=versions.get(Path(path))))

    # --- answers ----------------------------------------------------------------------------------------

    def hover(self, params: types.HoverParams) -> types.Hover | None:
        found = self._at(params.text_document.uri, params.position)
        if found is None:
            return None
        doc, snap, ref, word = found
        text = name_hover(ref, snap) if ref is not None else None
        if text is None and word is not None:
            text = keyword_hover(word[0])
        if text is None:
            return None
        span = ref.span if ref is not None and ref.span is not UNKNOWN else None
        range_ = to_range(span, doc.lines, doc.position_codec) if span is not None else word[1] if word else None
        return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text), range=range_)

    def definition(self, params: types.DefinitionParams) -> types.Location | None:
        found = self._at(params.text_document.uri, params.position)
        if found is None or found[2] is None:
            return None
        _, snap, ref, _ = found
        assert ref is not None
        if ref.kind is Kind.TEMPLATE:
            template = snap.template_file(ref.name)
            start = types.Position(line=0, character=0)
            return types.Location(uri=uri_of(template), range=types.Range(start=start, end=start)) if template else None
        span = definition(ref, snap.declared)
        if span is None:
            return None
        source = snap.sources.get(span.path)
        lines = source.lines if source is not None else ()
        return types.Location(uri=uri_of(span.path), range=to_range(span, lines, self.workspace.position_codec))

    def completion(self, params: types.CompletionParams) -> types.CompletionList | None:
        doc = self.workspace.get_text_document(params.text_document.uri)
        path = _path(doc.uri)
        if path is None:
            return None
        at = doc.position_codec.position_from_client_units(doc.lines, params.position)
        expected = expected_at(doc.source, at.line + 1, at.character + 1)
        line = doc.lines[at.line] if at.line < len(doc.lines) else ""
        start = types.Position(line=params.position.line,
                               character=doc.position_codec.client_num_units(line[: expected.start - 1]))
        items = completion_items(expected, self.snapshot(path), start, params.position)
        return types.CompletionList(is_incomplete=False, items=items)

    def formatting(self, params: types.DocumentFormattingParams) -> list[types.TextEdit] | None:
        doc = self.workspace.get_text_document(params.text_document.uri)
        path = _path(doc.uri)
        try:
            formatted = format_source(doc.source, str(path or doc.uri))
        except DslError:
            return None  # the diagnostics already say why it does not parse
        if formatted == doc.source:
            return []
        whole = types.Range(start=types.Position(line=0, character=0),
                            end=types.Position(line=len(doc.lines), character=0))
        return [types.TextEdit(range=whole, new_text=formatted)]

    def _at(self, uri: str, position: types.Position
            ) -> tuple[TextDocument, Snapshot, Reference | None, tuple[str, types.Range] | None] | None:
        """The document, its campaign, the name at ``position`` and the word there. The name comes from the
        file's tree, or, while the text does not parse, from the names the campaign declares."""
        doc = self.workspace.get_text_document(uri)
        path = _path(uri)
        if path is None:
            return None
        snap = self.snapshot(path)
        at = doc.position_codec.position_from_client_units(doc.lines, position)
        word = _word_at(doc, at.line, at.character)
        if str(path) in snap.current:  # the tree is the text's own: it alone says what a name is
            ref = reference_at(snap.files[str(path)], at.line + 1, at.character + 1)
        else:
            ref = _guess(word[0], snap) if word is not None else None
        return doc, snap, ref, word


def _path(uri: str) -> Path | None:
    path = to_fs_path(uri) if uri.startswith("file:") else None
    return Path(path) if path else None


def _word_at(doc: TextDocument, line: int, character: int) -> tuple[str, types.Range] | None:
    text = doc.lines[line] if line < len(doc.lines) else ""
    for match in _WORD.finditer(text):
        if match.start() <= character <= match.end():
            codec = doc.position_codec
            start = types.Position(line=line, character=codec.client_num_units(text[: match.start()]))
            end = types.Position(line=line, character=codec.client_num_units(text[: match.end()]))
            return match.group(0), types.Range(start=start, end=end)
    return None


def _guess(word: str, snap: Snapshot) -> Reference | None:
    """What a word names when the text around it does not parse: judged by the names the campaign declares."""
    sym = snap.symbols
    if word in sym.events:
        return Reference(Kind.EVENT, word, UNKNOWN)
    for kind, names in ((Kind.SCORE, sym.scores), (Kind.ATTRIBUTE, sym.attributes), (Kind.STAGE, sym.stages),
                        (Kind.JOURNEY, sym.journeys)):
        if word in names:
            return Reference(kind, word, UNKNOWN)
    return None


def build_server() -> NurtureServer:
    """The server with every handler registered."""
    server = NurtureServer()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: NurtureServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.check_soon(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: NurtureServer, params: types.DidChangeTextDocumentParams) -> None:
        ls.check_soon(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: NurtureServer, params: types.DidSaveTextDocumentParams) -> None:
        ls.check_soon(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: NurtureServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.check_soon(params.text_document.uri)  # the file on disk counts again

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def files_changed(ls: NurtureServer, params: types.DidChangeWatchedFilesParams) -> None:
        ls.check_all_soon()

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def hover(ls: NurtureServer, params: types.HoverParams) -> types.Hover | None:
        return ls.hover(params)

    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    def goto_definition(ls: NurtureServer, params: types.DefinitionParams) -> types.Location | None:
        return ls.definition(params)

    @server.feature(types.TEXT_DOCUMENT_COMPLETION,
                    types.CompletionOptions(trigger_characters=[".", '"', " ", "("]))
    def completion(ls: NurtureServer, params: types.CompletionParams) -> types.CompletionList | None:
        return ls.completion(params)

    @server.feature(types.TEXT_DOCUMENT_FORMATTING)
    def formatting(ls: NurtureServer, params: types.DocumentFormattingParams) -> list[types.TextEdit] | None:
        return ls.formatting(params)

    return server
