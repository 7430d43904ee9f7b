"""Interface strings in English and Japanese, and the choice of the learner's language."""

from __future__ import annotations

from collections.abc import Iterable

from service.domain import LANGS, Lang
from service.web import i18n_flow

LANG_COOKIE = "kiwame_lang"

EN: dict[str, str] = {
    "app.tagline": "Tensor exercises, graded in milliseconds",
    "nav.exercises": "Exercises", "nav.progress": "Progress", "nav.class": "Class", "nav.catalog": "Catalog",
    "nav.tokens": "API tokens", "nav.signin": "Sign in", "nav.signup": "Sign up", "nav.signout": "Sign out",
    "nav.language": "Language", "nav.skip": "Skip to content",
    "auth.username": "Username", "auth.password": "Password", "auth.name": "Display name",
    "auth.signin.title": "Sign in", "auth.signup.title": "Create your account",
    "auth.signin.submit": "Sign in", "auth.signup.submit": "Create account",
    "auth.no_account": "New here?", "auth.have_account": "Already have an account?",
    "auth.bad_credentials": "That username and password do not match.",
    "auth.email_taken": "This username is taken.",
    "auth.invalid": "Please choose a username (letters, digits, . _ -) and a password of at least 8 characters.",
    "auth.rate_limited": "Too many attempts. Please wait a minute and try again.",
    "auth.signed_out": "You are signed out.",
    "list.title": "Exercises", "list.difficulty": "Difficulty", "list.tags": "Tags", "list.state": "State",
    "state.not_tried": "Not tried", "state.tried": "Tried", "state.solved": "Solved",
    "list.empty": "No exercises are loaded yet.",
    "ex.cases": "Examples", "ex.editor": "Your code", "ex.submit": "Submit", "ex.submit_hint": "Ctrl/Cmd + Enter",
    "ex.reset": "Reset to starter", "ex.running": "Grading…", "ex.history": "My submissions",
    "ex.framework": "Answer in",
    "ex.framework_help": "The inputs are torch tensors or numpy arrays to match; each framework keeps its own draft.",
    "ex.helpers": "Provided helpers (read-only)",
    "ex.helpers_help": "This code runs with yours: call these functions from your answer; rules do not apply to them.",
    "ex.picture": "Picture it", "ex.picture_help": "Each input element keeps its colour where it lands in the output.",
    "ex.result": "Result", "ex.passed": "Passed", "ex.failed": "Not yet", "ex.case": "Case",
    "ex.hidden_case": "Hidden case", "ex.yours": "Your output", "ex.expected": "Expected",
    "ex.input": "Input", "ex.stdout": "Printed output", "ex.score": "Score",
    "ex.diff_cells": "cells differ", "ex.shape_differs": "The shapes differ.",
    "ex.applied": "You applied the permutation", "ex.wanted": "the exercise asks for", "ex.wanted_sep": "; ",
    "ex.more": "More details", "ex.stage": "Hint {n} of 3.", "ex.next_stage": "Each new try brings a more specific hint.",
    "ex.show_me": "Show me the answer", "ex.give_up": "Give up and see the answer",
    "ex.hint": "Hint", "ex.error": "Error", "ex.network_error": "Could not reach the server. Please try again.",
    "ex.answer": "Your answer", "ex.editor_help": "Tab indents; press Esc, then Tab, to move on from the editor.", "ex.shape_label": "Shape, e.g. (3, 2)", "ex.shape_placeholder": "e.g. 3, 2", "ex.explanation": "Explanation",
    "ex.tries": "tries", "ex.back": "All exercises", "ex.not_found": "Exercise not found.",
    "ex.checks": "Checks",
    "grid.dim": "axis", "grid.shape": "shape", "grid.none": "no value", "grid.empty": "empty tensor", "grid.elided": "too large to draw; first values",
    "hist.title": "Submissions", "hist.when": "When", "hist.score": "Score", "hist.open": "Open in editor",
    "hist.empty": "No submissions yet.", "hist.code": "Code", "hist.framework": "Framework",
    "staff.hidden": "Hidden cases (staff only: never shown to the learner)",
    "prog.title": "Your progress", "prog.solved": "solved", "prog.track": "Track",
    "inst.class": "Class overview", "inst.learner": "Learner", "inst.all_tracks": "All tracks",
    "inst.filter": "Filter", "inst.csv": "Download CSV", "inst.attempts": "Attempts",
    "inst.solve_rate": "Solve rate", "inst.best": "Best", "inst.common": "Most common diagnoses",
    "inst.count": "Count", "inst.learners": "Learners", "inst.exercise": "Exercise",
    "inst.submissions": "Submissions", "inst.no_learners": "No learners yet.",
    "cat.title": "Exercise catalog", "cat.loaded": "Loaded", "cat.failed": "Failed validation",
    "cat.reload": "Reload catalog", "cat.reloaded": "Catalog reloaded.", "cat.file": "File",
    "cat.none_failed": "Every file passed validation.",
    "tok.title": "API tokens", "tok.name": "Name", "tok.create": "Create token", "tok.revoke": "Revoke",
    "tok.created": "Copy this token now; it will not be shown again:", "tok.empty": "No tokens.",
    "tok.created_at": "Created", "tok.last_used": "Last used", "tok.revoked": "Token revoked.",
    "err.forbidden": "You do not have access to this page.", "err.not_found": "Page not found.",
    "err.csrf": "Your session expired. Please reload the page and try again.",
}

JA: dict[str, str] = {
    "app.tagline": "テンソル演習を、ミリ秒で採点",
    "nav.exercises": "演習", "nav.progress": "進捗", "nav.class": "クラス", "nav.catalog": "カタログ",
    "nav.tokens": "APIトークン", "nav.signin": "ログイン", "nav.signup": "新規登録", "nav.signout": "ログアウト",
    "nav.language": "言語", "nav.skip": "本文へ移動",
    "auth.username": "ユーザー名", "auth.password": "パスワード", "auth.name": "表示名",
    "auth.signin.title": "ログイン", "auth.signup.title": "アカウントを作成",
    "auth.signin.submit": "ログイン", "auth.signup.submit": "アカウントを作成",
    "auth.no_account": "はじめての方は", "auth.have_account": "アカウントをお持ちの方は",
    "auth.bad_credentials": "ユーザー名またはパスワードが正しくありません。",
    "auth.email_taken": "このユーザー名は既に使われています。",
    "auth.invalid": "ユーザー名（英数字と . _ -）と8文字以上のパスワードを入力してください。",
    "auth.rate_limited": "試行回数が多すぎます。1分ほど待ってからもう一度お試しください。",
    "auth.signed_out": "ログアウトしました。",
    "list.title": "演習", "list.difficulty": "難易度", "list.tags": "タグ", "list.state": "状態",
    "state.not_tried": "未挑戦", "state.tried": "挑戦中", "state.solved": "正解",
    "list.empty": "まだ演習が読み込まれていません。",
    "ex.cases": "例", "ex.editor": "あなたのコード", "ex.submit": "提出", "ex.submit_hint": "Ctrl/Cmd + Enter",
    "ex.reset": "初期コードに戻す", "ex.running": "採点中…", "ex.history": "提出履歴",
    "ex.framework": "解答に使うフレームワーク",
    "ex.framework_help": "入力は選んだほうのテンソル(torch)または配列(numpy)になります。下書きはフレームワークごとに保存されます。",
    "ex.helpers": "用意された補助関数（読み取り専用）",
    "ex.helpers_help": "このコードはあなたのコードと一緒に実行されます。解答から呼び出せます。ルールはこのコードには適用されません。",
    "ex.picture": "図で見る", "ex.picture_help": "入力の各要素の色が、出力のどこに移ったかを示します。",
    "ex.result": "結果", "ex.passed": "正解", "ex.failed": "まだ", "ex.case": "ケース",
    "ex.hidden_case": "非公開ケース", "ex.yours": "あなたの出力", "ex.expected": "期待される出力",
    "ex.input": "入力", "ex.stdout": "標準出力", "ex.score": "スコア",
    "ex.diff_cells": "個のセルが異なります", "ex.shape_differs": "形状が異なります。",
    "ex.applied": "あなたが適用した軸の並べ替え:", "ex.wanted": "求められている並べ替え:", "ex.wanted_sep": "。",
    "ex.more": "詳しく見る", "ex.stage": "ヒント {n}/3。", "ex.next_stage": "もう一度提出するたびに、より具体的なヒントが出ます。",
    "ex.show_me": "答えを見る", "ex.give_up": "降参して答えを見る",
    "ex.hint": "ヒント", "ex.error": "エラー", "ex.network_error": "サーバーに接続できませんでした。もう一度お試しください。",
    "ex.answer": "あなたの答え", "ex.editor_help": "Tab でインデントします。エディタから移動するには Esc を押してから Tab を押します。", "ex.shape_label": "形状 (例: (3, 2))", "ex.shape_placeholder": "例: 3, 2", "ex.explanation": "解説",
    "ex.tries": "回挑戦", "ex.back": "演習一覧", "ex.not_found": "演習が見つかりません。",
    "ex.checks": "チェック",
    "grid.dim": "軸", "grid.shape": "形状", "grid.none": "値なし", "grid.empty": "空のテンソル", "grid.elided": "大きすぎるため先頭の値のみ表示",
    "hist.title": "提出履歴", "hist.when": "日時", "hist.score": "スコア", "hist.open": "エディタで開く",
    "hist.empty": "まだ提出はありません。", "hist.code": "コード", "hist.framework": "フレームワーク",
    "staff.hidden": "非公開のケース(スタッフのみ: 学習者には表示されません)",
    "prog.title": "あなたの進捗", "prog.solved": "正解", "prog.track": "トラック",
    "inst.class": "クラス概要", "inst.learner": "学習者", "inst.all_tracks": "すべてのトラック",
    "inst.filter": "絞り込み", "inst.csv": "CSVをダウンロード", "inst.attempts": "提出数",
    "inst.solve_rate": "正解率", "inst.best": "最高点", "inst.common": "よくある誤り",
    "inst.count": "件数", "inst.learners": "学習者", "inst.exercise": "演習",
    "inst.submissions": "提出", "inst.no_learners": "まだ学習者がいません。",
    "cat.title": "演習カタログ", "cat.loaded": "読み込み済み", "cat.failed": "検証エラー",
    "cat.reload": "カタログを再読み込み", "cat.reloaded": "カタログを再読み込みしました。", "cat.file": "ファイル",
    "cat.none_failed": "すべてのファイルが検証を通過しました。",
    "tok.title": "APIトークン", "tok.name": "名前", "tok.create": "トークンを作成", "tok.revoke": "失効",
    "tok.created": "このトークンを今すぐコピーしてください。再表示されません:", "tok.empty": "トークンはありません。",
    "tok.created_at": "作成日時", "tok.last_used": "最終使用", "tok.revoked": "トークンを失効しました。",
    "err.forbidden": "このページへのアクセス権がありません。", "err.not_found": "ページが見つかりません。",
    "err.csrf": "セッションの有効期限が切れました。ページを再読み込みしてもう一度お試しください。",
}

EN.update(i18n_flow.EN)
JA.update(i18n_flow.JA)
STRINGS: dict[str, dict[str, str]] = {"en": EN, "ja": JA}


def translate(lang: str, key: str) -> str:
    """The string for ``key`` in ``lang``; English, then the key itself, when missing (never an exception)."""
    return STRINGS.get(lang, EN).get(key) or EN.get(key, key)


def normalize(value: str | None) -> Lang | None:
    """'ja', 'ja-JP' -> 'ja'; anything unsupported -> None."""
    if not value:
        return None
    base = value.strip().lower().split("-")[0].split("_")[0]
    for lang in LANGS:
        if base == lang:
            return lang
    return None


def choose(explicit: Iterable[str | None], accept: Iterable[tuple[str, float]]) -> Lang:
    """First supported explicit choice (user, cookie), else the best Accept-Language match, else English."""
    for value in explicit:
        lang = normalize(value)
        if lang:
            return lang
    for value, _quality in sorted(accept, key=lambda item: -item[1]):
        lang = normalize(value)
        if lang:
            return lang
    return "en"
