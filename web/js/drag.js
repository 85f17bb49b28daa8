// drag.js — pointer-event drag and drop of cards (mouse, pen and touch).
//
// Mouse: press anywhere on a card. Touch and pen: press the card's drag handle (the rest of the
// card scrolls the page as usual). The drag begins after the pointer travels a few pixels; then
// a ghost copy follows the pointer and a placeholder shows where the card will land.
// Escape or pointercancel abandons the drag. No style attributes are written in markup: the
// ghost's position and the placeholder's height are CSS custom properties set through CSSOM.

const THRESHOLD_PX = 6;
const EDGE_PX = 48;
const SCROLL_STEP = 14;       // px per frame at the very edge; less further in (edgeStep)

/** Auto-scroll speed: 0 outside the edge band, growing to 2 × SCROLL_STEP at (or past) the edge. */
function edgeStep(distance) {
  if (distance >= EDGE_PX) return 0;
  return Math.max(2, Math.round(SCROLL_STEP * 2 * (EDGE_PX - Math.max(distance, 0)) / EDGE_PX));
}

/**
 * Wire drag and drop into the board root.
 * hooks.canDrag(id) -> true, or a string saying why not (announced)
 * hooks.onStart(id) -> Promise<boolean>  (false: the lock was refused; the drag is abandoned)
 * hooks.onDrop(id, toKey, beforeId)       (beforeId: order id of the card below the drop point, or null)
 * hooks.onCancel(id)
 * hooks.onOver(id, toKey, beforeId)      (optional: the drop point now; the drag preview asks about it)
 * Returns {cancel(), active()}.
 */
export function installDrag(root, view, hooks) {
  let pending = null;   // {id, node, pointerId, x0, y0}
  let drag = null;      // {id, node, ghost, placeholder, pointerId, dx, dy, x, y, raf, aborted}

  function onPointerDown(e) {
    if (!view.canEdit || drag || pending) return;
    if (e.button !== undefined && e.button !== 0) return;
    const card = e.target.closest('.card[data-order-id]');
    if (!card || !root.contains(card)) return;
    const onHandle = !!e.target.closest('.drag-handle');
    if (e.pointerType !== 'mouse' && !onHandle) return;
    if (e.target.closest('button:not(.drag-handle), a, input, select, textarea')) return;
    pending = { id: view.orderIdOf(card), node: card, pointerId: e.pointerId, x0: e.clientX, y0: e.clientY };
    if (onHandle) e.preventDefault();
  }

  function onPointerMove(e) {
    if (pending && e.pointerId === pending.pointerId) {
      if (Math.hypot(e.clientX - pending.x0, e.clientY - pending.y0) < THRESHOLD_PX) return;
      const p = pending;
      pending = null;
      begin(p, e);
      return;
    }
    if (!drag || e.pointerId !== drag.pointerId) return;
    e.preventDefault();
    drag.x = e.clientX;
    drag.y = e.clientY;
    moveGhost();
    if (!drag.raf) drag.raf = requestAnimationFrame(track);
  }

  function onPointerUp(e) {
    if (pending && e.pointerId === pending.pointerId) { pending = null; return; }
    if (!drag || e.pointerId !== drag.pointerId) return;
    e.preventDefault();
    finish(true);
  }

  function onPointerCancel(e) {
    if (pending && e.pointerId === pending.pointerId) { pending = null; return; }
    if (drag && e.pointerId === drag.pointerId) finish(false);
  }

  function onKeyDown(e) {
    if (drag && e.key === 'Escape') {
      e.preventDefault();
      finish(false);
    }
  }

  function begin(p, e) {
    const why = hooks.canDrag(p.id);
    if (why !== true) {
      p.node.classList.add('shake');
      setTimeout(() => p.node.classList.remove('shake'), 400);
      return;
    }
    const rect = p.node.getBoundingClientRect();
    const ghost = p.node.cloneNode(true);
    ghost.removeAttribute('id');
    ghost.removeAttribute('tabindex');
    ghost.setAttribute('aria-hidden', 'true');
    ghost.classList.add('drag-ghost');
    for (const a of ghost.getAnimations ? ghost.getAnimations() : []) a.cancel();
    ghost.style.setProperty('--ghost-w', `${rect.width}px`);
    document.body.appendChild(ghost);

    const placeholder = document.createElement('li');
    placeholder.className = 'drag-placeholder';
    placeholder.setAttribute('aria-hidden', 'true');
    placeholder.style.setProperty('--ph-h', `${rect.height}px`);
    p.node.parentNode.insertBefore(placeholder, p.node);
    p.node.classList.add('drag-source');
    document.body.classList.add('dragging');

    drag = {
      id: p.id, node: p.node, ghost, placeholder, pointerId: p.pointerId,
      dx: p.x0 - rect.left, dy: p.y0 - rect.top, x: e.clientX, y: e.clientY, raf: 0, aborted: false,
    };
    try { root.setPointerCapture(p.pointerId); } catch { /* pointer already gone */ }
    moveGhost();
    const mine = drag;
    Promise.resolve(hooks.onStart(p.id)).then((ok) => {
      if (!ok && drag === mine) finish(false, { silent: true });
    }, () => { if (drag === mine) finish(false, { silent: true }); });
  }

  function moveGhost() {
    drag.ghost.style.setProperty('--drag-x', `${drag.x - drag.dx}px`);
    drag.ghost.style.setProperty('--drag-y', `${drag.y - drag.dy}px`);
  }

  function track() {
    if (!drag) return;
    drag.raf = 0;
    const { x, y } = drag;
    const el = document.elementFromPoint(x, y);
    autoScroll(el, x, y);
    if (!el) return;
    const column = el.closest('.column[data-column-id]');
    if (column && root.contains(column)) {
      // The drop point is before the first card whose middle is below the pointer (the cards
      // are stacked top to bottom, so a binary search finds it). Whether the pointer is over a
      // card, a gap, the placeholder itself or the empty end of the list does not matter, so
      // the placeholder never flickers between two places as the layout shifts under it.
      const list = column.querySelector('ol.cards');
      const cards = [];
      for (const c of list.children) if (c.dataset.orderId && c !== drag.node) cards.push(c);
      let lo = 0, hi = cards.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        const r = cards[mid].getBoundingClientRect();
        if (y < r.top + r.height / 2) hi = mid; else lo = mid + 1;
      }
      const ref = lo < cards.length ? cards[lo] : null;
      if (drag.placeholder.parentNode !== list || nextCard(drag.placeholder) !== ref) {
        list.insertBefore(drag.placeholder, ref);
      }
      if (hooks.onOver) hooks.onOver(drag.id, list.dataset.columnId, ref ? view.orderIdOf(ref) : null);
    }
    if (drag.scrolling) drag.raf = requestAnimationFrame(track);
  }

  function autoScroll(el, x, y) {
    drag.scrolling = false;
    const list = el && el.closest ? el.closest('ol.cards') : null;
    if (list) {
      const r = list.getBoundingClientRect();
      if (y < r.top + EDGE_PX && list.scrollTop > 0) { list.scrollTop -= SCROLL_STEP; drag.scrolling = true; }
      else if (y > r.bottom - EDGE_PX && list.scrollTop + list.clientHeight < list.scrollHeight) {
        list.scrollTop += SCROLL_STEP; drag.scrolling = true;
      }
    }
    // Sideways over the board. On a phone the board snaps to columns (app.css); body.dragging
    // turns the snapping off, else each small step would be snapped back to the column it left.
    const br = root.getBoundingClientRect();
    const left = edgeStep(x - br.left), right = edgeStep(br.right - x);
    if (left && root.scrollLeft > 0) { root.scrollLeft -= left; drag.scrolling = true; }
    else if (right && root.scrollLeft + root.clientWidth < root.scrollWidth - 1) {
      root.scrollLeft += right; drag.scrolling = true;
    }
  }

  function nextCard(el) {
    let n = el.nextElementSibling;
    while (n && (!n.dataset.orderId || n.classList.contains('drag-source'))) n = n.nextElementSibling;
    return n;
  }

  function finish(drop, { silent = false } = {}) {
    const d = drag;
    drag = null;
    if (!d) return;
    if (d.raf) cancelAnimationFrame(d.raf);
    try { root.releasePointerCapture(d.pointerId); } catch { /* ignore */ }
    d.ghost.remove();
    document.body.classList.remove('dragging');
    d.node.classList.remove('drag-source');
    const list = d.placeholder.parentNode;
    const toKey = list ? list.dataset.columnId : null;
    const below = nextCard(d.placeholder);
    const beforeId = below ? view.orderIdOf(below) : null;
    if (drop && toKey) {
      // Show the card where it was dropped at once; the server's order_moved (or an error that
      // snaps it back) settles it.
      list.insertBefore(d.node, d.placeholder);
      d.placeholder.remove();
      hooks.onDrop(d.id, toKey, beforeId);
    } else {
      d.placeholder.remove();
      view.snapBack(d.id);
      if (!silent) hooks.onCancel(d.id);
    }
  }

  root.addEventListener('pointerdown', onPointerDown);
  window.addEventListener('pointermove', onPointerMove, { passive: false });
  window.addEventListener('pointerup', onPointerUp);
  window.addEventListener('pointercancel', onPointerCancel);
  window.addEventListener('keydown', onKeyDown);
  // A native HTML5 drag of a card's text would fight the pointer drag.
  root.addEventListener('dragstart', (e) => { if (e.target.closest && e.target.closest('.card')) e.preventDefault(); });

  return {
    active: () => (drag ? drag.id : null),
    /** Abandon a drag in progress (e.g. the card was locked or deleted under us). */
    cancel(id) {
      if (drag && (id === undefined || drag.id === id)) finish(false);
    },
  };
}
