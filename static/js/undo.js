// Collaborative undo for the room page: a Yjs UndoManager that tracks only the transactions
// this page made (its own origins), so undo and redo take back your edits to the prompt, the
// negative prompt and the shared parameters, never someone else's, even when theirs came after.
// Buttons and Ctrl+Z / Ctrl+Shift+Z (Cmd on a Mac; Ctrl+Y redoes too).

export function bindUndo({ Y, scope, origins, undoButton, redoButton, editorFields, canEdit }) {
  const manager = new Y.UndoManager(scope, {
    trackedOrigins: new Set(origins),
    // Keystrokes closer together than this are one step (a word, not a letter).
    captureTimeout: 500,
  });

  function refresh() {
    const editable = canEdit();
    undoButton.disabled = !editable || manager.undoStack.length === 0;
    redoButton.disabled = !editable || manager.redoStack.length === 0;
  }

  function undo() {
    if (canEdit()) manager.undo();
    refresh();
  }

  function redo() {
    if (canEdit()) manager.redo();
    refresh();
  }

  for (const event of ["stack-item-added", "stack-item-popped", "stack-cleared"]) {
    manager.on(event, refresh);
  }
  undoButton.addEventListener("click", undo);
  redoButton.addEventListener("click", redo);

  // Shortcuts anywhere on the page but in other text fields (the chat keeps its own undo).
  document.addEventListener(
    "keydown",
    (event) => {
      if (!(event.ctrlKey || event.metaKey) || event.altKey) return;
      const target = event.target;
      const typing = target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement;
      if (typing && !editorFields.includes(target)) return;
      const key = event.key.toLowerCase();
      if (key === "z" && !event.shiftKey) {
        event.preventDefault(); // the field's own undo would not know about Yjs
        undo();
      } else if ((key === "z" && event.shiftKey) || key === "y") {
        event.preventDefault();
        redo();
      }
    },
    true,
  );
  refresh();
  return { manager, refresh };
}
