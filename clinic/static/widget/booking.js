/*
 * Clinic booking widget. No dependencies, no build step: it talks only to the public API
 * (/api/v1/public/, see API.md) so a clinic can embed this page or copy its three files.
 * Set data-api on #clinic-widget to point a copy at the clinic's server.
 */
(function () {
  "use strict";

  const root = document.getElementById("clinic-widget");
  const API = root.dataset.api || "/api/v1/public/";
  const $ = (id) => document.getElementById(id);
  const DAYS_SHOWN = 7;

  const state = {
    mode: "appointment",
    locations: [],
    services: [],
    providers: [],
    weekStart: startOfToday(),
    timezone: "UTC",
    slot: null,
    pending: { key: null, body: null },
    manage: null,
    slotsRequest: 0,
    // The clinic's locations, loading from the start; a tab chosen before they arrive waits.
    locationsLoaded: Promise.resolve(),
    modeChosen: false,
  };

  // --- API -------------------------------------------------------------------------------

  // Booking fields a service may require (its ``required_fields``); optional otherwise.
  const OPTIONAL_UNLESS_REQUIRED = ["patient.date_of_birth", "reason"];

  class ApiError extends Error {
    constructor(status, problem) {
      super(problem.detail || problem.title || "Something went wrong. Please try again.");
      this.status = status;
      this.problem = problem;
    }
  }

  async function api(path, options = {}) {
    const url = new URL(API + path, window.location.href);
    for (const [name, value] of Object.entries(options.params || {})) {
      if (value !== "" && value !== null && value !== undefined) url.searchParams.set(name, value);
    }
    const init = { method: options.method || "GET", headers: { Accept: "application/json" } };
    Object.assign(init.headers, options.headers || {});
    if (options.body !== undefined) {
      init.body = JSON.stringify(options.body);
      init.headers["Content-Type"] = "application/json";
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch (networkError) {
      throw new ApiError(0, {
        detail: "We could not reach the clinic. Check your connection and try again.",
      });
    }
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (parseError) {
      data = null;
    }
    if (!response.ok) {
      if (response.status === 429) {
        throw new ApiError(429, { detail: "Too many requests. Please wait a minute and try again." });
      }
      throw new ApiError(response.status, data || {});
    }
    return data;
  }

  /** The answer to ``request`` if the visitor still wants it when it arrives, else undefined:
   * an answer, or an error, for a choice they have since left is dropped. */
  async function ifStillWanted(request, stillWanted) {
    try {
      const answer = await request;
      return stillWanted() ? answer : undefined;
    } catch (error) {
      if (stillWanted()) throw error;
      return undefined;
    }
  }

  const asList = (data) => (Array.isArray(data) ? data : (data && data.results) || []);
  const idOf = (value) => (value && typeof value === "object" ? value.id : value);

  // --- Dates and display ---------------------------------------------------------------------

  function startOfToday() {
    const now = new Date();
    return new Date(now.getFullYear(), now.getMonth(), now.getDate());
  }

  function addDays(date, days) {
    return new Date(date.getFullYear(), date.getMonth(), date.getDate() + days);
  }

  function isoDate(date) {
    const pad = (n) => String(n).padStart(2, "0");
    return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
  }

  function formatIn(timezone, iso, options) {
    return new Intl.DateTimeFormat("en-CA", { timeZone: timezone, ...options }).format(new Date(iso));
  }

  const dayLabel = (tz, iso) => formatIn(tz, iso, { weekday: "long", month: "long", day: "numeric" });
  const timeLabel = (tz, iso) => formatIn(tz, iso, { hour: "numeric", minute: "2-digit" });
  const whenLabel = (tz, iso) => `${dayLabel(tz, iso)}, ${timeLabel(tz, iso)}`;

  function money(service) {
    if (service.is_free_consult || Number(service.price) === 0) return "free";
    return new Intl.NumberFormat("en-CA", {
      style: "currency",
      currency: service.currency || "CAD",
    }).format(Number(service.price));
  }

  const MODALITY = { in_person: "in person", phone: "by phone", video: "by video" };

  // --- Messages and field errors -------------------------------------------------------------

  function setStatus(message, kind) {
    const status = $("cw-status");
    status.textContent = message || "";
    status.className = "cw-status" + (kind ? ` cw-${kind}` : "");
  }

  function clearFieldErrors(form) {
    form.querySelectorAll(".cw-field-error").forEach((el) => el.remove());
    form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  }

  /** Show a problem+json response: its detail on top, each named field's message beside it. */
  function showProblem(error, form) {
    if (!(error instanceof ApiError)) {
      setStatus("Something went wrong. Please try again.", "error");
      return;
    }
    setStatus(error.message, "error");
    if (!form) return;
    clearFieldErrors(form);
    for (const item of error.problem.errors || []) {
      const input = form.querySelector(`[name="${CSS.escape(item.field || "")}"]`);
      if (!input) continue;
      input.setAttribute("aria-invalid", "true");
      const note = document.createElement("p");
      note.className = "cw-field-error";
      note.textContent = item.message;
      input.insertAdjacentElement("afterend", note);
    }
  }

  /** Refill a select, keeping the visitor's choice when it is still offered. */
  function fillSelect(select, items, toOption, firstOption) {
    const previous = select.value;
    select.replaceChildren();
    if (firstOption) select.append(new Option(firstOption[1], firstOption[0]));
    for (const item of items) {
      const [value, label] = toOption(item);
      select.append(new Option(label, value));
    }
    if ([...select.options].some((option) => option.value === previous)) select.value = previous;
  }

  // --- Modes ---------------------------------------------------------------------------------

  async function setMode(mode) {
    state.mode = mode;
    for (const tab of root.querySelectorAll("[role=tab]")) {
      tab.setAttribute("aria-selected", String(tab.dataset.mode === mode));
    }
    $("cw-book").hidden = mode === "callback";
    $("cw-callback").hidden = mode !== "callback";
    $("cw-done").hidden = true;
    setStatus("");
    if (mode === "callback") return;
    const consult = mode === "consult";
    $("cw-consult-intro").hidden = !consult;
    $("cw-service").closest(".cw-row").hidden = false;
    $("cw-reason-label").textContent = consult ? "What hurts? Tell us briefly" : "Reason for your visit";
    $("cw-submit").textContent = consult ? "Book my free consult" : "Book";
    hideDetails();
    forgetSlots();
    state.weekStart = startOfToday();
    await state.locationsLoaded;
    if (state.mode !== mode) return; // another tab was chosen while the locations loaded
    await guarded(loadLocations);
  }

  /** Consults are offered only at locations with a free-consult service; appointments at every
   * location. */
  async function loadLocations() {
    const mode = state.mode;
    let locations = state.locations;
    if (mode === "consult") {
      const offered = await Promise.all(
        locations.map(async (location) => {
          const services = asList(await api("services/", { params: { location: location.id } }));
          return services.some((s) => s.is_free_consult);
        }),
      );
      if (state.mode !== mode) return; // the visitor switched tabs meanwhile
      locations = locations.filter((_, index) => offered[index]);
    }
    if (!locations.length) {
      fillSelect($("cw-location"), [], () => []);
      showNoChoice("This cannot be booked online at the moment. Please call the clinic.");
      return;
    }
    const wanted = new URLSearchParams(window.location.search).get("location");
    fillSelect($("cw-location"), locations, (l) => [l.id, l.name]);
    if (wanted && locations.some((l) => String(l.id) === wanted)) $("cw-location").value = wanted;
    await loadServices();
  }

  async function loadServices() {
    const location = $("cw-location").value;
    const mode = state.mode;
    const consult = mode === "consult";
    const answer = await ifStillWanted(
      api("services/", { params: { location } }),
      () => $("cw-location").value === location && state.mode === mode,
    );
    if (answer === undefined) return;
    const services = asList(answer).filter((s) => Boolean(s.is_free_consult) === consult);
    state.services = services;
    fillSelect($("cw-service"), services, (s) => [s.id, `${s.name} (${s.duration_minutes} min)`]);
    $("cw-service").closest(".cw-row").hidden = consult && services.length === 1;
    if (!services.length) {
      showNoChoice("Nothing can be booked online at this location. Please try another one.");
      return;
    }
    await loadProviders();
  }

  async function loadProviders() {
    const service = currentService();
    $("cw-service-info").textContent = [
      service.description,
      `${service.duration_minutes} minutes, ${MODALITY[service.modality] || service.modality}, ${money(service)}.`,
    ]
      .filter(Boolean)
      .join(" ");
    const location = $("cw-location").value;
    const mode = state.mode;
    const answer = await ifStillWanted(
      api("providers/", { params: { location, service: service.id } }),
      () =>
        $("cw-location").value === location &&
        $("cw-service").value === String(service.id) &&
        state.mode === mode,
    );
    if (answer === undefined) return;
    const providers = asList(answer);
    state.providers = providers;
    fillSelect($("cw-provider"), providers, (p) => [p.id, p.display_name], ["", "Any available provider"]);
    await loadSlots();
  }

  function showNoChoice(message) {
    state.services = [];
    $("cw-service-info").textContent = "";
    $("cw-days").replaceChildren();
    $("cw-slots").hidden = true;
    setStatus(message, "error");
  }

  const currentService = () => state.services.find((s) => String(s.id) === $("cw-service").value);
  const currentLocation = () =>
    state.locations.find((l) => String(l.id) === $("cw-location").value);
  const providerName = (id) =>
    (state.providers.find((p) => String(p.id) === String(id)) || {}).display_name || "";

  // --- Slots ---------------------------------------------------------------------------------

  /** Take the shown times away and drop any answer still on its way: they were for an earlier
   * choice (tab, place, service, provider or week), and a time picked from them would be booked
   * as the new choice. */
  function forgetSlots() {
    state.slotsRequest += 1;
    $("cw-days").replaceChildren();
  }

  /** A week of free times and the zone they are shown in; the caller decides whether the
   * answer is still wanted before it touches the page. */
  async function fetchSlots(query) {
    const start = state.weekStart;
    const data = await api("availability/", {
      params: { ...query, start: isoDate(start), end: isoDate(addDays(start, DAYS_SHOWN - 1)) },
    });
    let slots = data.slots || [];
    if (!query.provider) {
      const seen = new Set();
      slots = slots.filter((slot) => !seen.has(slot.start) && seen.add(slot.start));
    }
    return { slots, timezone: data.timezone || state.timezone };
  }

  function renderSlots(container, slots, onPick) {
    const tz = state.timezone;
    container.replaceChildren();
    if (!slots.length) {
      const empty = document.createElement("p");
      empty.className = "cw-empty";
      empty.textContent = "No free times in these days. Try later dates.";
      container.append(empty);
      return;
    }
    const byDay = new Map();
    for (const slot of slots) {
      const day = dayLabel(tz, slot.start);
      if (!byDay.has(day)) byDay.set(day, []);
      byDay.get(day).push(slot);
    }
    for (const [day, daySlots] of byDay) {
      const group = document.createElement("div");
      group.className = "cw-day";
      const heading = document.createElement("h3");
      heading.textContent = day;
      const row = document.createElement("div");
      row.className = "cw-day-slots";
      for (const slot of daySlots) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "cw-slot";
        button.dataset.start = slot.start;
        button.setAttribute("aria-pressed", "false");
        button.textContent = timeLabel(tz, slot.start);
        button.addEventListener("click", () => {
          container.querySelectorAll("[aria-pressed=true]").forEach((b) => b.setAttribute("aria-pressed", "false"));
          button.setAttribute("aria-pressed", "true");
          onPick(slot);
        });
        row.append(button);
      }
      group.append(heading, row);
      container.append(group);
    }
  }

  async function loadSlots() {
    const service = currentService();
    if (!service) return;
    $("cw-slots").hidden = false;
    hideDetails();
    const start = state.weekStart;
    $("cw-earlier").disabled = start <= startOfToday();
    const provider = $("cw-provider").value;
    setStatus("Looking for free times…");
    // Only the newest request is shown: an earlier answer (or error) arriving late must not
    // replace it, nor change the zone times are shown in.
    forgetSlots();
    const request = state.slotsRequest;
    const answer = await ifStillWanted(
      fetchSlots({ service: service.id, location: $("cw-location").value, provider }),
      () => request === state.slotsRequest,
    );
    if (answer === undefined) return;
    const { slots } = answer;
    const tz = (state.timezone = answer.timezone);
    const shortDate = new Intl.DateTimeFormat("en-CA", { month: "short", day: "numeric" });
    $("cw-range").textContent =
      `${shortDate.format(start)} – ${shortDate.format(addDays(start, DAYS_SHOWN - 1))}`;
    renderSlots($("cw-days"), slots, pickSlot);
    setStatus(slots.length ? `Times are shown in ${tz.replace("_", " ")} time.` : "");
  }

  function pickSlot(slot) {
    state.slot = slot;
    const location = currentLocation();
    const provider = $("cw-provider").value || "";
    const who = provider ? ` with ${providerName(provider)}` : "";
    $("cw-chosen").textContent = `${currentService().name}, ${whenLabel(state.timezone, slot.start)}${who} at ${location.name}`;
    askFor(currentService());
    $("cw-details").hidden = false;
    $("cw-first-name").focus();
  }

  /** Ask for what the chosen service needs: the services list names it in ``required_fields``
   * (booking-body paths such as ``patient.date_of_birth``, the inputs' names). Those inputs are
   * shown and required; a date of birth nobody needs is not asked for. */
  function askFor(service) {
    const needed = new Set((service && service.required_fields) || []);
    $("cw-dob-row").hidden = !needed.has("patient.date_of_birth");
    for (const name of OPTIONAL_UNLESS_REQUIRED) {
      const input = $("cw-details").querySelector(`[name="${name}"]`);
      input.required = needed.has(name);
      input.setAttribute("aria-required", String(input.required));
    }
  }

  /** The required fields of the chosen service left empty, as problem items. */
  function missingRequired(service, form) {
    return ((service && service.required_fields) || [])
      .filter((name) => !formValue(form, name))
      .map((name) => ({ field: name, message: "Please fill this in for this service." }));
  }

  function hideDetails() {
    state.slot = null;
    $("cw-details").hidden = true;
  }

  // --- Booking -------------------------------------------------------------------------------

  function formValue(form, name) {
    const input = form.querySelector(`[name="${name}"]`);
    if (!input) return undefined;
    return input.type === "checkbox" ? input.checked : input.value.trim();
  }

  /** The same key for a retried identical request (so a lost response never books twice);
   * a new key as soon as anything in the request changes. */
  function idempotencyKeyFor(body) {
    const json = JSON.stringify(body);
    if (state.pending.body !== json) {
      state.pending = { body: json, key: randomKey() };
    }
    return state.pending.key;
  }

  function randomKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  async function submitBooking(event) {
    event.preventDefault();
    const form = $("cw-details");
    clearFieldErrors(form);
    const service = currentService();
    const body = {
      service: service.id,
      location: Number($("cw-location").value),
      start: state.slot.start,
      patient: {
        first_name: formValue(form, "patient.first_name"),
        last_name: formValue(form, "patient.last_name"),
        email: formValue(form, "patient.email"),
        phone: formValue(form, "patient.phone"),
      },
      consent: {
        reminders: formValue(form, "consent.reminders"),
        care_plans: formValue(form, "consent.care_plans"),
        marketing: formValue(form, "consent.marketing"),
      },
    };
    const provider = $("cw-provider").value;
    if (provider) body.provider = Number(provider);
    const needed = (service && service.required_fields) || [];
    const dob = formValue(form, "patient.date_of_birth");
    if (dob && needed.includes("patient.date_of_birth")) body.patient.date_of_birth = dob;
    const reason = formValue(form, "reason");
    if (reason) body.reason = reason;
    const missing = missingRequired(service, form);
    if (missing.length) {
      showProblem(new ApiError(422, { detail: "Some required details are missing.", errors: missing }), form);
      return;
    }

    const button = $("cw-submit");
    button.disabled = true;
    setStatus("Booking…");
    try {
      const booking = await api("bookings/", {
        method: "POST",
        body,
        headers: { "Idempotency-Key": idempotencyKeyFor(body) },
      });
      showBooked(booking);
    } catch (error) {
      showProblem(error, form);
      if (error.status === 409) {
        const message = error.message;
        await guarded(loadSlots);
        setStatus(`${message} Please choose another time.`, "error");
      }
    } finally {
      button.disabled = false;
    }
  }

  function manageUrl(reference, token) {
    const url = new URL(window.location.pathname, window.location.origin);
    url.searchParams.set("reference", reference);
    url.searchParams.set("token", token);
    return url.toString();
  }

  function fillSummary(list, rows) {
    list.replaceChildren();
    for (const [label, value] of rows) {
      const dt = document.createElement("dt");
      dt.textContent = label;
      const dd = document.createElement("dd");
      dd.textContent = value;
      list.append(dt, dd);
    }
  }

  function describe(booking) {
    const location = state.locations.find((l) => l.id === idOf(booking.location)) || {};
    const tz = location.timezone || state.timezone;
    const service = state.services.find((s) => s.id === idOf(booking.service));
    const provider =
      (typeof booking.provider === "object" && booking.provider && booking.provider.display_name) ||
      providerName(idOf(booking.provider));
    const serviceName =
      (typeof booking.service === "object" && booking.service && booking.service.name) ||
      (service && service.name) ||
      "";
    return [
      ["Reference", booking.reference],
      ["What", serviceName],
      ["When", `${whenLabel(tz, booking.start)} (${tz.replace("_", " ")} time)`],
      ["With", provider],
      ["Where", location.name || ""],
      ["Status", String(booking.status || "").replace("_", " ")],
    ].filter(([, value]) => value);
  }

  function showBooked(booking) {
    $("cw-book").hidden = true;
    $("cw-done").hidden = false;
    fillSummary($("cw-summary"), describe(booking));
    $("cw-manage-link").href = manageUrl(booking.reference, booking.manage_token);
    state.pending = { key: null, body: null };
    setStatus(`Booked. Your reference is ${booking.reference}.`, "ok");
  }

  // --- Manage an existing booking (the e-mail's link) ----------------------------------------

  async function openManage(reference, token) {
    root.querySelector(".cw-tabs").hidden = true;
    $("cw-book").hidden = true;
    $("cw-manage").hidden = false;
    state.manage = { reference, token, booking: null };
    let booking;
    try {
      booking = await api(`bookings/${encodeURIComponent(reference)}/`, { params: { token } });
    } catch (error) {
      $("cw-manage-actions").hidden = true;
      showProblem(
        error.status === 404 ? new ApiError(404, { detail: "We could not find this booking. Check the link in your e-mail." }) : error,
      );
      return;
    }
    await resolveNames(booking);
    renderManaged(booking);
  }

  /** Load the lists that turn the booking's ids into names (the booking may carry only ids). */
  async function resolveNames(booking) {
    const location = idOf(booking.location);
    const [locations, services, providers] = await Promise.all([
      api("locations/"),
      api("services/", { params: { location } }),
      api("providers/", { params: { location } }),
    ]);
    state.locations = asList(locations);
    state.services = asList(services);
    state.providers = asList(providers);
  }

  function renderManaged(booking) {
    state.manage.booking = booking;
    fillSummary($("cw-manage-summary"), describe(booking));
    const open = !["cancelled", "completed", "no_show", "arrived"].includes(booking.status);
    $("cw-manage-actions").hidden = !open;
    $("cw-reschedule-slots").hidden = true;
  }

  async function cancelBooking(event) {
    event.preventDefault();
    const { reference, token } = state.manage;
    const form = $("cw-cancel");
    try {
      const booking = await api(`bookings/${encodeURIComponent(reference)}/cancel/`, {
        method: "POST",
        body: { token, reason: formValue(form, "reason") },
      });
      renderManaged({ ...state.manage.booking, ...(booking || {}), status: (booking && booking.status) || "cancelled" });
      setStatus("Your booking is cancelled.", "ok");
    } catch (error) {
      showProblem(error, form);
    }
  }

  async function showRescheduleSlots() {
    const { booking } = state.manage;
    const location = state.locations.find((l) => l.id === idOf(booking.location)) || {};
    state.timezone = location.timezone || state.timezone;
    state.weekStart = startOfToday();
    const container = $("cw-reschedule-slots");
    container.hidden = false;
    const { slots, timezone } = await fetchSlots({
      service: idOf(booking.service),
      location: idOf(booking.location),
      provider: idOf(booking.provider),
    });
    state.timezone = timezone;
    renderSlots(container, slots, rescheduleTo);
  }

  async function rescheduleTo(slot) {
    const { reference, token, booking } = state.manage;
    try {
      const updated = await api(`bookings/${encodeURIComponent(reference)}/reschedule/`, {
        method: "POST",
        body: { token, start: slot.start, provider: idOf(booking.provider) },
      });
      renderManaged({ ...booking, ...updated });
      setStatus(`Moved to ${whenLabel(state.timezone, slot.start)}.`, "ok");
    } catch (error) {
      showProblem(error);
    }
  }

  // --- Call-back request ---------------------------------------------------------------------

  async function submitCallback(event) {
    event.preventDefault();
    const form = $("cw-callback-form");
    clearFieldErrors(form);
    const body = { name: formValue(form, "name"), phone: formValue(form, "phone") };
    for (const name of ["email", "preferred_time", "message"]) {
      const value = formValue(form, name);
      if (value) body[name] = value;
    }
    body.consent = { marketing: formValue(form, "consent.marketing") };
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await api("callback-requests/", { method: "POST", body });
      form.reset();
      setStatus("Thank you. Our front desk will call you back.", "ok");
    } catch (error) {
      showProblem(error, form);
    } finally {
      button.disabled = false;
    }
  }

  // --- Wiring --------------------------------------------------------------------------------

  /** Run a step and turn any failure into a message instead of a silent broken page. */
  async function guarded(step) {
    try {
      await step();
    } catch (error) {
      showProblem(error);
    }
  }

  function bind() {
    for (const tab of root.querySelectorAll("[role=tab]")) {
      tab.addEventListener("click", () => {
        state.modeChosen = true;
        setMode(tab.dataset.mode);
      });
    }
    // A new choice starts from this week at once, so a later click on "Later" is not undone
    // when the answers for the choice arrive.
    $("cw-location").addEventListener("change", () => {
      state.weekStart = startOfToday();
      hideDetails();
      forgetSlots();
      guarded(loadServices);
    });
    $("cw-service").addEventListener("change", () => {
      state.weekStart = startOfToday();
      hideDetails();
      forgetSlots();
      guarded(loadProviders);
    });
    $("cw-provider").addEventListener("change", () => {
      state.weekStart = startOfToday();
      guarded(loadSlots);
    });
    $("cw-earlier").addEventListener("click", () => {
      state.weekStart = addDays(state.weekStart, -DAYS_SHOWN);
      if (state.weekStart < startOfToday()) state.weekStart = startOfToday();
      guarded(loadSlots);
    });
    $("cw-later").addEventListener("click", () => {
      state.weekStart = addDays(state.weekStart, DAYS_SHOWN);
      guarded(loadSlots);
    });
    $("cw-back").addEventListener("click", hideDetails);
    $("cw-details").addEventListener("submit", submitBooking);
    $("cw-cancel").addEventListener("submit", cancelBooking);
    $("cw-reschedule").addEventListener("click", () => guarded(showRescheduleSlots));
    $("cw-callback-form").addEventListener("submit", submitCallback);
  }

  async function start() {
    const params = new URLSearchParams(window.location.search);
    if (params.get("reference") && params.get("token")) {
      bind();
      await openManage(params.get("reference"), params.get("token"));
    } else {
      state.locationsLoaded = guarded(async () => {
        state.locations = asList(await api("locations/"));
      });
      bind();
      const mode = ["appointment", "consult", "callback"].includes(params.get("mode"))
        ? params.get("mode")
        : "appointment";
      await state.locationsLoaded;
      // A tab the visitor chose while the page was loading stands; otherwise open the default.
      if (!state.modeChosen) await setMode(mode);
    }
    root.dataset.ready = "true";
  }

  start();
})();
