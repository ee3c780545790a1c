/* The view's only script, inlined in every page. Without it the pages still show
   everything; with it: the graph pans, zooms (buttons, wheel, pinch), fits, finds a step and
   shows data edges; a step's details open beside (or, on a phone, below) the graph; a
   running execution's page polls the server and updates in place; the index filters and
   picks executions to compare. It reads and sets text, classes and attributes only: every
   piece of markup comes from the server's escaped templates. */
(function () {
  "use strict";
  var body = document.body;
  var page = body.getAttribute("data-page");
  var narrow = window.matchMedia("(max-width: 900px)");

  function byId(id) { return document.getElementById(id); }
  function each(selector, fn, root) {
    Array.prototype.forEach.call((root || document).querySelectorAll(selector), fn);
  }
  function nodeById(name) { return byId("node-" + name); }

  /* -- the graph: viewBox pan and zoom -------------------------------------------- */
  var selected = null;

  function setupGraph() {
    var svg = byId("dag");
    if (!svg) { return; }
    var fit = svg.getAttribute("data-fit").split(" ").map(Number);
    var view = fit.slice();
    var MIN = 0.1, MAX = 4; // zoomed in to a tenth of the graph, out to four times it

    function apply() {
      svg.setAttribute("viewBox", view.map(function (v) { return v.toFixed(1); }).join(" "));
    }
    function toGraph(clientX, clientY) {
      var point = svg.createSVGPoint();
      point.x = clientX; point.y = clientY;
      return point.matrixTransform(svg.getScreenCTM().inverse());
    }
    function centre() { return { x: view[0] + view[2] / 2, y: view[1] + view[3] / 2 }; }
    function zoom(factor, at) {
      var width = Math.min(Math.max(view[2] / factor, fit[2] * MIN), fit[2] * MAX);
      var scale = width / view[2];
      view = [at.x - (at.x - view[0]) * scale, at.y - (at.y - view[1]) * scale,
        view[2] * scale, view[3] * scale];
      apply();
    }
    function panBy(dxPixels, dyPixels) {
      var ctm = svg.getScreenCTM();
      view[0] -= dxPixels / ctm.a; view[1] -= dyPixels / ctm.d;
      apply();
    }
    function reveal(name) {
      var box = nodeById(name).querySelector(".box");
      var x = Number(box.getAttribute("x")) + Number(box.getAttribute("width")) / 2;
      var y = Number(box.getAttribute("y")) + Number(box.getAttribute("height")) / 2;
      view[0] = x - view[2] / 2; view[1] = y - view[3] / 2;
      apply();
    }
    byId("zoom-in").addEventListener("click", function () { zoom(1.25, centre()); });
    byId("zoom-out").addEventListener("click", function () { zoom(0.8, centre()); });
    byId("zoom-fit").addEventListener("click", function () { view = fit.slice(); apply(); });
    svg.addEventListener("wheel", function (event) {
      event.preventDefault();
      zoom(Math.exp(-event.deltaY * 0.0015), toGraph(event.clientX, event.clientY));
    }, { passive: false });

    // Pointers: one drags, two pinch. A press that moves less than a few pixels is a click.
    var pointers = {}, dragged = false, pinch = null;
    function count() { return Object.keys(pointers).length; }
    function pair() {
      var ids = Object.keys(pointers), a = pointers[ids[0]], b = pointers[ids[1]];
      return { distance: Math.hypot(a.x - b.x, a.y - b.y),
        x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
    }
    svg.addEventListener("pointerdown", function (event) {
      pointers[event.pointerId] = { x: event.clientX, y: event.clientY,
        startX: event.clientX, startY: event.clientY };
      dragged = false;
      pinch = count() === 2 ? pair() : null;
    });
    svg.addEventListener("pointermove", function (event) {
      var pointer = pointers[event.pointerId];
      if (!pointer) { return; }
      var dx = event.clientX - pointer.x, dy = event.clientY - pointer.y;
      pointer.x = event.clientX; pointer.y = event.clientY;
      if (count() === 2 && pinch) {
        var now = pair();
        zoom(now.distance / pinch.distance, toGraph(now.x, now.y));
        panBy(now.x - pinch.x, now.y - pinch.y);
        pinch = now; dragged = true;
        return;
      }
      if (!dragged && Math.hypot(event.clientX - pointer.startX,
          event.clientY - pointer.startY) < 5) { return; }
      if (!dragged) {
        dragged = true;
        svg.setPointerCapture(event.pointerId);
        svg.classList.add("panning");
      }
      panBy(dx, dy);
    });
    function release(event) {
      delete pointers[event.pointerId];
      pinch = count() === 2 ? pair() : null;
      svg.classList.remove("panning");
    }
    svg.addEventListener("pointerup", release);
    svg.addEventListener("pointercancel", release);
    svg.addEventListener("click", function (event) {
      if (dragged) { event.stopPropagation(); event.preventDefault(); dragged = false; }
    }, true);

    // Find a step: matches stay bright, Enter selects the first and brings it into view.
    var search = byId("graph-search");
    function matches() {
      var text = search.value.trim().toLowerCase(), found = [];
      svg.classList.toggle("searching", text !== "");
      each(".node", function (node) {
        var hit = text !== "" && node.getAttribute("data-search").indexOf(text) >= 0;
        node.classList.toggle("match", hit);
        if (hit) { found.push(node.getAttribute("data-step")); }
      }, svg);
      return found;
    }
    search.addEventListener("input", matches);
    search.addEventListener("keydown", function (event) {
      if (event.key === "Enter") {
        event.preventDefault();
        var found = matches();
        if (found.length) { select(found[0], false); reveal(found[0]); }
      } else if (event.key === "Escape") {
        search.value = ""; matches();
      }
    });

    // Data edges: all of them with the toggle, a step's own while it is hovered.
    byId("toggle-data-edges").addEventListener("change", function (event) {
      svg.classList.toggle("show-data", event.target.checked);
    });
    each(".node", function (node) {
      var name = node.getAttribute("data-step");
      function hot(on) {
        each(".edge.data", function (edge) {
          if (edge.getAttribute("data-source") === name ||
              edge.getAttribute("data-target") === name) {
            edge.classList.toggle("hot", on);
          }
        }, svg);
      }
      node.addEventListener("mouseenter", function () { hot(true); });
      node.addEventListener("mouseleave", function () { hot(false); });
      node.addEventListener("focus", function () { hot(true); });
      node.addEventListener("blur", function () { hot(false); });
      node.addEventListener("click", function () { select(name, narrow.matches); });
      node.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault(); select(name, narrow.matches);
        }
      });
    });
  }

  /* -- the details panel ------------------------------------------------------------ */
  function select(name, scroll) {
    var panel = byId("details"), chosen = byId("step-" + name);
    if (!panel || !chosen) { return; }
    selected = name;
    each(".node.selected", function (node) { node.classList.remove("selected"); });
    nodeById(name).classList.add("selected");
    each(".step-details", function (block) { block.hidden = block !== chosen; }, panel);
    panel.setAttribute("data-step", name);
    if (scroll) { panel.scrollIntoView({ block: "start" }); }
  }

  function preselect() {
    var failed = document.querySelector('.node[data-status="Failed"]');
    if (failed) { select(failed.getAttribute("data-step"), false); }
  }

  /* -- live updates while an execution runs ------------------------------------------- */
  function setupLive() {
    var url = body.getAttribute("data-live-url");
    if (!url) { return; }
    var state = window.viewLive = { polls: 0, stopped: false, refreshed: false };
    function update(data) {
      Object.keys(data.steps).forEach(function (name) {
        var step = data.steps[name], node = nodeById(name);
        if (!node) { return; }
        node.setAttribute("class", "node " + step.css + (name === selected ? " selected" : ""));
        node.setAttribute("data-status", step.status);
        node.querySelector(".state").textContent = step.state_line;
        var block = byId("step-" + name);
        if (block) {
          each("[data-live]", function (field) {
            var key = field.getAttribute("data-live");
            field.textContent = step.fields[key];
          }, block);
        }
      });
      var badge = byId("execution-status");
      badge.textContent = data.status;
      badge.className = "badge " + data.css;
      byId("execution-duration").textContent = data.duration;
    }
    function refresh() {
      // The finished execution's page: its outcome, sections and step details replace the
      // running ones (same origin, same templates); the graph keeps its zoom.
      fetch(body.getAttribute("data-page-url"), { cache: "no-store" })
        .then(function (response) { return response.text(); })
        .then(function (text) {
          var fresh = new DOMParser().parseFromString(text, "text/html");
          ["outcome", "sections"].forEach(function (id) {
            var incoming = fresh.getElementById(id);
            if (incoming && byId(id)) { byId(id).replaceWith(document.importNode(incoming, true)); }
          });
          each(".step-details", function (block) {
            var incoming = fresh.getElementById(block.id);
            if (incoming) {
              var copy = document.importNode(incoming, true);
              copy.hidden = block.hidden;
              block.replaceWith(copy);
            }
          }, byId("details"));
          state.refreshed = true;
        });
    }
    function poll() {
      fetch(url, { cache: "no-store" })
        .then(function (response) {
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.json();
        })
        .then(function (data) {
          state.polls += 1;
          update(data);
          if (data.running) {
            window.setTimeout(poll, 1000);
          } else {
            state.stopped = true;
            var indicator = byId("live-indicator");
            if (indicator) { indicator.remove(); }
            refresh();
          }
        })
        .catch(function () {
          // The server stopped: keep what the page shows, and say so.
          state.stopped = true;
          var indicator = byId("live-indicator");
          if (indicator) { indicator.textContent = "not updating (server unreachable)"; }
        });
    }
    window.setTimeout(poll, 1000);
  }

  /* -- the index: filter, pick executions to compare ---------------------------------- */
  function setupIndex() {
    var text = byId("filter-text"), status = byId("filter-status");
    if (!text) { return; }
    var rows = document.querySelectorAll("#executions tbody tr");
    function apply() {
      var words = text.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
      var wanted = status.value, shown = 0;
      Array.prototype.forEach.call(rows, function (row) {
        var haystack = row.getAttribute("data-search");
        var ok = (!wanted || row.getAttribute("data-status") === wanted) &&
          words.every(function (word) { return haystack.indexOf(word) >= 0; });
        row.classList.toggle("hidden", !ok);
        if (ok) { shown += 1; }
      });
      byId("filter-count").textContent = shown + " of " + rows.length + " shown";
      var query = new URLSearchParams();
      if (text.value.trim()) { query.set("q", text.value.trim()); }
      if (wanted) { query.set("status", wanted); }
      var search = query.toString();
      window.history.replaceState(null, "", search ? "?" + search : window.location.pathname);
    }
    function picks() {
      var count = document.querySelectorAll(".compare-pick:checked").length;
      byId("compare-button").disabled = count < 2;
    }
    text.addEventListener("input", apply);
    status.addEventListener("change", apply);
    each(".compare-pick", function (box) { box.addEventListener("change", picks); });
    apply();
    picks();
  }

  if (page === "execution") {
    setupGraph();
    preselect();
    setupLive();
  } else if (page === "index") {
    setupIndex();
  }
}());
