// Entry point bundled by esbuild into static/vendor/editor.js (window.KiwameEditor.create).
import { EditorState } from "@codemirror/state";
import {
  EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter,
  drawSelection, highlightSpecialChars,
} from "@codemirror/view";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import {
  indentOnInput, bracketMatching, syntaxHighlighting, defaultHighlightStyle, indentUnit,
} from "@codemirror/language";
import { closeBrackets, closeBracketsKeymap } from "@codemirror/autocomplete";
import { python } from "@codemirror/lang-python";

// create(parent, doc, {onSubmit, onChange, label}) -> {getValue(), setValue(text), focus()}
export function create(parent, doc, opts) {
  const options = opts || {};
  const submitKeys = [
    { key: "Mod-Enter", preventDefault: true, run: () => { if (options.onSubmit) options.onSubmit(); return true; } },
  ];
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc,
      extensions: [
        lineNumbers(), highlightActiveLineGutter(), highlightSpecialChars(), history(), drawSelection(),
        indentOnInput(), bracketMatching(), closeBrackets(), highlightActiveLine(),
        syntaxHighlighting(defaultHighlightStyle, { fallback: true }), indentUnit.of("    "),
        keymap.of([...submitKeys, ...closeBracketsKeymap, ...defaultKeymap, ...historyKeymap, indentWithTab]),
        python(),
        EditorView.contentAttributes.of({ "aria-label": options.label || "Code editor" }),
        // The server keeps a draft: tell the page when the text changes (it debounces the save).
        EditorView.updateListener.of((u) => { if (u.docChanged && options.onChange) options.onChange(); }),
      ],
    }),
  });
  return {
    view,
    getValue: () => view.state.doc.toString(),
    setValue: (text) => view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } }),
    focus: () => view.focus(),
  };
}
