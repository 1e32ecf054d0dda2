"""Made-up documents to teach the base model to read: the reader adapter's training data.

Fictional organisations (shops, clinics, gyms, libraries, councils…) each get short policy passages in
the shapes real documents take: a question heading with its answer, a plain paragraph, the top of a
page, a bullet list, a table. A question, asked in one of several wordings (some sharing no words with
the passage), gets three passages in the grounded prompt the app sends, the answer's passage in any
position among passages of the same organisation that hold other figures, often of the same kind.
Each set of passages is asked twice, about two of the topics it holds, so only the question tells which
sentence answers. The answer is one plain sentence giving the figure as the passage states it. One
question in fifty is one the passages cannot answer, and its answer says so.

Every example draws its figures afresh, so the same organisation's same passage appears with other
figures elsewhere (knowledge substitution, Longpre et al., 2021): only the passage gives the answer.
No figure of Larkspur's (the sample corpus, its edits, facts.json, the question sets) is ever drawn,
and no Larkspur document or question is used (tests/test_reading_data.py checks both).
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ..answers import Source
from ..builtin import NEUTRAL, grounded_messages
from ..evaluation.grounding import claims

VERSION = "made-up reading v9b"  # recorded in the reader's manifest; change it when the output changes
NOT_SAID = "The documents do not say."

# name, kind: the kind picks the nouns its passages use
ORGANISATIONS = [
    ("Copperfield Cycles", "bike"), ("Spokeworks", "bike"), ("Harbourview Dental", "clinic"),
    ("Maple Street Clinic", "clinic"), ("Ironbark Fitness", "gym"), ("Pulse Gym", "gym"),
    ("Eastbrook Library", "library"), ("Northgate Public Library", "library"), ("Ledgerly", "software"),
    ("Cloudnest Software", "software"), ("Crumb & Co Bakery", "bakery"), ("Rye Street Bakery", "bakery"),
    ("Millbrook Council", "council"), ("Westhaven District Council", "council"), ("Pawsome Grooming", "pets"),
    ("Tailwag Pet Care", "pets"), ("Seaglass Hotel", "hotel"), ("The Old Mill Inn", "hotel"),
    ("Greenleaf Garden Centre", "garden"), ("Thornbury Nurseries", "garden"), ("Allegro Music School", "school"),
    ("Polyglot Language Centre", "school"), ("Summit Climbing Wall", "gym"), ("Brightwash Laundry", "laundry"),
    ("Fixmyphone", "repair"), ("Gadget Doctor", "repair"), ("Hollow Oak Furniture", "furniture"),
    ("Oakline Interiors", "furniture"), ("Bluewater Ferries", "travel"), ("Coastline Coaches", "travel"),
    ("Quill & Page Books", "books"), ("Riverside Museum", "museum"), ("Tidepool Aquatic Centre", "gym"),
    ("Petalworks Florist", "florist"), ("Hive Coworking", "coworking"), ("Sparkle Car Wash", "carwash"),
]

# per kind: an item (a / plural), a service (a / plural) and what customers are called
NOUNS = {
    "bike": ("a bike part", "bike parts", "a service", "services"),
    "clinic": ("a prescription", "prescriptions", "an appointment", "appointments"),
    "gym": ("a class pass", "class passes", "a personal training session", "personal training sessions"),
    "library": ("a book", "books", "a room booking", "room bookings"),
    "software": ("a licence", "licences", "a support call", "support calls"),
    "bakery": ("a celebration cake", "celebration cakes", "a catering order", "catering orders"),
    "council": ("a parking permit", "parking permits", "a bulky waste collection", "bulky waste collections"),
    "pets": ("a bag of pet food", "pet food", "a grooming session", "grooming sessions"),
    "hotel": ("a gift voucher", "gift vouchers", "a room", "rooms"),
    "garden": ("a plant", "plants", "a garden design visit", "garden design visits"),
    "school": ("a course book", "course books", "a lesson", "lessons"),
    "laundry": ("a laundry bag", "laundry bags", "a dry-cleaning order", "dry-cleaning orders"),
    "repair": ("a phone case", "phone cases", "a screen repair", "screen repairs"),
    "furniture": ("a sofa", "sofas", "a home delivery", "home deliveries"),
    "travel": ("a ticket", "tickets", "a seat reservation", "seat reservations"),
    "books": ("a book", "books", "a special order", "special orders"),
    "museum": ("a guidebook", "guidebooks", "a guided tour", "guided tours"),
    "florist": ("a bouquet", "bouquets", "a wedding consultation", "wedding consultations"),
    "coworking": ("a drop-in pass", "drop-in passes", "a meeting room booking", "meeting room bookings"),
    "carwash": ("a wash voucher", "wash vouchers", "a full valet", "full valets"),
}


@dataclass(frozen=True)
class Slot:
    """One figure of a topic: the kind of figure, how it is labelled in a list, the sentence that answers
    with it, and the questions it answers (some in words the passage does not use)."""
    kind: str
    label: str
    answer: str
    questions: tuple[str, ...]


@dataclass(frozen=True)
class Topic:
    title: str
    heading: str
    statement: str      # the passage's sentence, with {v} (and {w} for a second figure)
    slots: tuple[Slot, ...]
    filler: str = ""    # a sentence without figures that a real page would have around it


def _t(title, heading, statement, slots, filler=""):
    return Topic(title, heading, statement, tuple(Slot(*s[:3], tuple(s[3])) for s in slots), filler)


TOPICS = [
    _t("Returns", "Can I bring something back?", "You can return {items} within {v} of purchase.",
       [("days", "Return window", "You can return {items} within {v} of purchase.",
         ["Until when can {item} be handed back?", "What's the deadline for bringing back {item}?",
          "I no longer want {item} I bought. By when must it come back?", "return deadline?",
          "Is there a limit on how late I can hand back something I bought?"])],
       "Items must be unused and in their original packaging."),
    _t("Refunds", "When will I get my money back?", "Refunds reach your account within {v} after we receive a return.",
       [("business", "Refund time", "Refunds reach your account within {v} after we receive a return.",
         ["How soon will my refund arrive?", "When do I get my money back after a return?",
          "refund turnaround", "You've got my return. When will the money show up?"])],
       "We email you as soon as the refund is on its way."),
    _t("Delivery", "How much does delivery cost?", "Standard delivery costs {v}, and express delivery costs {w}.",
       [("money", "Standard delivery", "Standard delivery costs {v}.",
         ["How much is standard delivery?", "What do you charge to post an order if I'm not in a hurry?",
          "standard shipping price?"]),
        ("money", "Express delivery", "Express delivery costs {w}.",
         ["How much is express delivery?", "What does the fastest shipping option cost?",
          "If I need it quickly, what's the delivery charge?"])],
       "Delivery times are shown at checkout."),
    _t("Free delivery", "When is delivery free?", "Orders over {v} are delivered free of charge.",
       [("money", "Free delivery over", "Orders over {v} are delivered free of charge.",
         ["What order total gets free delivery?", "Is there a minimum order for free shipping?",
          "When don't I pay for postage?"])]),
    _t("Membership", "How much is membership?", "Membership costs {v} a year.",
       [("money", "Annual membership", "Membership costs {v} a year.",
         ["How much is the yearly membership?", "What does annual membership cost?", "yearly fee to join?",
          "What's the annual subscription?"])],
       "You can cancel your membership at any time."),
    _t("Member discount", "Do members get a discount?", "Members get {v} off {services}.",
       [("percent", "Member discount", "Members get {v} off {services}.",
         ["What discount do members get?", "How much cheaper are {services} for members?",
          "Is there a reduction for members?"])]),
    _t("Opening hours", "When are you open?", "We are open from {v} to {w} every day.",
       [("opens", "Opening time", "We open at {v}.",
         ["What time do you open?", "How early can I come in?", "When do your doors open in the morning?"]),
        ("closes", "Closing time", "We close at {w}.",
         ["What time do you close?", "How late are you open?", "Until when can I visit in the evening?"])],
       "Hours may change on public holidays."),
    _t("Closed day", "Are you ever closed?", "We are closed every {v}.",
       [("weekday", "Closed on", "We are closed every {v}.",
         ["Which day are you closed?", "Which weekday are your doors shut?", "closing day?"])]),
    _t("Contact us", "How can I reach you?", "You can call us on {v}.",
       [("phone", "Phone", "You can call us on {v}.",
         ["What's your phone number?", "How can I reach you by phone?", "Which number do I ring?"])],
       "You can also write to us through the contact form."),
    _t("Deposits", "Is there a deposit?", "Booking {a_service} needs a deposit of {v}.",
       [("money", "Deposit", "Booking {a_service} needs a deposit of {v}.",
         ["How big is the deposit for {a_service}?", "Do I pay anything up front when I book?",
          "deposit amount?"])],
       "The deposit is taken off your final bill."),
    _t("Cancellations", "How do I cancel a booking?", "Please cancel at least {v} before {a_service}.",
       [("hours", "Cancellation notice", "Please cancel at least {v} before {a_service}.",
         ["How much notice do I need to give to cancel?", "How late can I cancel {a_service}?",
          "Can I call off a booking the same morning?"])],
       "Late cancellations may be charged."),
    _t("Late fees", "What if I'm late?", "A late fee of {v} is charged for each day {items} are overdue.",
       [("money", "Late fee per day", "A late fee of {v} is charged for each day {items} are overdue.",
         ["What is the late fee?", "How much do you charge when I bring things back late?", "overdue charge?"])]),
    _t("Warranty", "How long is the warranty?", "{Items} come with a warranty of {v}.",
       [("years", "Warranty", "{Items} come with a warranty of {v}.",
         ["What warranty cover do {items} have?", "For how long are {items} guaranteed?",
          "If {item} breaks, how long am I covered?"])],
       "Keep your receipt as proof of purchase."),
    _t("Delivery area", "How far do you deliver?", "We deliver within {v} of our premises.",
       [("distance", "Delivery radius", "We deliver within {v} of our premises.",
         ["How far do you deliver?", "Do you deliver to towns nearby, and how far out?", "delivery radius?"])]),
    _t("Parcels", "Is there a weight limit?", "Each parcel can weigh up to {v}.",
       [("weight", "Parcel weight limit", "Each parcel can weigh up to {v}.",
         ["What's the heaviest parcel allowed?", "How heavy can a parcel be?", "weight limit per parcel?"])]),
    _t("Prices", "What do your services cost?", "{A_service} costs {v}.",
       [("money", "Price", "{A_service} costs {v}.",
         ["How much is {a_service}?", "What do you charge for {a_service}?", "price of {a_service}?"])],
       "Prices include tax."),
    _t("Email", "How fast do you reply?", "We answer emails within {v}.",
       [("hours", "Email reply time", "We answer emails within {v}.",
         ["How quickly do you reply to emails?", "If I write to you, when will I hear back?"])]),
    _t("Limits", "Is there a limit?", "You can book up to {v} {services} each month.",
       [("count", "Monthly limit", "You can book up to {v} {services} each month.",
         ["How many {services} can I book each month?", "Is there a cap on {services} per month?"])]),
    _t("Age", "Is there an age limit?", "Customers must be at least {v} old to book {a_service}.",
       [("age", "Minimum age", "Customers must be at least {v} old to book {a_service}.",
         ["How old do I have to be to book {a_service}?", "Is there a minimum age?", "Can my kid book {a_service}?"])]),
    _t("Paying late", "What if I pay late?", "Invoices paid late carry a surcharge of {v}.",
       [("percent", "Late payment surcharge", "Invoices paid late carry a surcharge of {v}.",
         ["What is the surcharge for paying late?", "How much extra do late invoices cost?"])]),
    _t("Rewards", "How do points work?", "You earn {v} points for every dollar you spend.",
       [("count", "Points per dollar", "You earn {v} points for every dollar you spend.",
         ["How many points do I get per dollar?", "How fast do I collect reward points?"])]),
    _t("Free trial", "Is there a free trial?", "New customers get a free trial of {v}.",
       [("days", "Free trial", "New customers get a free trial of {v}.",
         ["How long is the free trial?", "Can I try it for free first, and for how long?"])]),
    _t("Vouchers", "Do gift vouchers expire?", "Gift vouchers are valid for {v} after they are bought.",
       [("months", "Voucher validity", "Gift vouchers are valid for {v} after they are bought.",
         ["How long is a gift voucher valid?", "When does a voucher run out?", "voucher expiry?"])]),
    _t("Parking", "Where can I park?", "Parking is free for the first {v}.",
       [("minutes", "Free parking", "Parking is free for the first {v}.",
         ["How long can I park for free?", "Is parking free, and for how long?"])],
       "The car park is behind the building."),
    _t("Collection day", "When are orders sent?", "Orders are sent out every {v}.",
       [("weekday", "Dispatch day", "Orders are sent out every {v}.",
         ["Which day do orders go out?", "On what day of the week do you dispatch?"])]),
]


def _draw(kind: str, rng: random.Random) -> str:
    n = rng.randint
    if kind == "money":
        whole = rng.choice([n(2, 19), n(20, 95), n(100, 450)])
        return f"${whole}.{n(1, 19) * 5:02d}" if rng.random() < 0.2 else f"${whole}"
    if kind == "days":
        return rng.choice([f"{n(3, 90)} days", f"{n(2, 8)} weeks", f"{n(2, 11)} months"])
    if kind == "business":
        return rng.choice([f"{n(2, 15)} business days", f"{n(2, 15)} working days", f"{n(3, 20)} days"])
    if kind == "hours":
        return rng.choice([f"{n(2, 72)} hours", f"{n(2, 10)} days"])
    if kind == "minutes":
        return rng.choice([f"{n(2, 9) * 10} minutes", f"{n(2, 5)} hours"])
    if kind == "years":
        return rng.choice([f"{n(2, 10)} years", f"{n(6, 36)} months"])
    if kind == "months":
        return rng.choice([f"{n(3, 48)} months", f"{n(2, 6)} years"])
    if kind == "age":
        return f"{n(12, 25)} years"
    if kind == "percent":
        return rng.choice([f"{n(3, 60)}%", f"{n(3, 60)} percent"])
    if kind in ("opens", "closes"):
        hour, minutes = (n(5, 11), "am") if kind == "opens" else (n(1, 10), "pm")
        return f"{hour}{rng.choice(['', ':30', ':15'])}{rng.choice(['', ' '])}{minutes}"
    if kind == "weekday":
        return rng.choice(["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"])
    if kind == "phone":
        return rng.choice([f"555-{n(100, 999)}-{n(1000, 9999)}", f"({n(200, 989)}) 555-{n(1000, 9999)}"])
    if kind == "distance":
        return rng.choice([f"{n(2, 60)} miles", f"{n(3, 90)} km"])
    if kind == "weight":
        return rng.choice([f"{n(2, 40)} kg", f"{n(3, 70)} lb"])
    return str(n(2, 40))  # a count


@cache
def larkspur_figures(root: Path) -> frozenset:
    """Every figure Larkspur's documents, edits and question sets hold, as the grounding check reads it."""
    from ..documents.edits import PREPARED_EDITS
    texts = [p.read_text(encoding="utf-8") for p in sorted((root / "sample_corpus").glob("*.md"))]
    texts += [edit.new for edit in PREPARED_EDITS]
    facts = json.loads((root / "training_data" / "facts.json").read_text())
    texts += [f"{v['value']} " + " ".join(v["alternates"]) for k, v in facts.items() if not k.startswith("_")]
    for name in ("voice_train.jsonl", "development.jsonl", "heldout.jsonl"):
        for line in (root / "training_data" / name).read_text().splitlines():
            row = json.loads(line) if line.strip() else {}
            texts += [row.get("answer", "")] + row.get("before", []) + row.get("after", [])
    return frozenset(claim.key for text in texts for claim in claims(text))


class Exhausted(Exception):
    """Every value of a kind of figure (seven weekdays) is Larkspur's or already taken in this example."""


def _figure(kind: str, rng: random.Random, avoid: frozenset, taken: set, tries: int = 200) -> str:
    for _ in range(tries):
        value = _draw(kind, rng)
        keys = {claim.key for claim in claims(value)}
        if keys and not keys & avoid and not keys & taken:
            taken |= keys
            return value
    raise Exhausted(kind)


def _figures(topic: Topic, rng: random.Random, avoid: frozenset, taken: set) -> dict:
    """A topic's figures, one a slot, keyed v and w as its sentences name them."""
    return {key: _figure(s.kind, rng, avoid, taken) for s, key in zip(topic.slots, "vw")}


def _fill(text: str, nouns: tuple[str, ...], **figures: str) -> str:
    a_item, items, a_service, services = nouns
    words = dict(item=a_item, items=items, a_service=a_service, services=services, Items=items[0].upper() + items[1:],
                 A_service=a_service[0].upper() + a_service[1:])
    return text.format(**words, **figures)


FILLERS = ["Ask a member of staff if you have any questions.", "We review these terms every year.",
           "Thank you for choosing us.", "Some exceptions apply; see the full terms in store.",
           "This applies to orders placed online and in person.", "We will always tell you before anything changes."]


def _passage(topic: Topic, figures: dict, nouns, org: str, shape: str, rng: random.Random,
             neighbours: tuple[str, ...] = ()) -> Source:
    """One section of a page; neighbours, sentences of other topics with their own figures, share it."""
    statement = _fill(topic.statement, nouns, **figures)
    said = [statement, topic.filler, *neighbours, *rng.sample(FILLERS, rng.randrange(4))]
    body = " ".join(s for s in said[:1] + rng.sample(said[1:], len(said) - 1) if s)
    text = {"heading": f"## {topic.heading}\n\n{body}",
            "plain": body,
            "top": f"# {topic.title}\n\nThis page explains our {topic.title.lower()} at {org}. {body}",
            "bullets": f"## {topic.title}\n\n" + "\n".join(
                f"- {slot.label}: {figures[key]}" for slot, key in zip(topic.slots, "vw"))}[shape]
    return Source(doc_id=topic.title.lower().replace(" ", "-"), title=topic.title, version=1, score=0.0, text=text)


def _table(topics: list[Topic], figures: list[dict]) -> Source:
    rows = [f"| {slot.label} | {fig[key]} |" for topic, fig in zip(topics, figures)
            for slot, key in zip(topic.slots, "vw")]
    text = "## At a glance\n\n| What | Figure |\n|---|---|\n" + "\n".join(rows)
    return Source(doc_id="at-a-glance", title="At a glance", version=1, score=0.0, text=text)


def _neighbours(count: int, used: list, nouns, rng: random.Random, avoid: frozenset, taken: set) -> tuple:
    """count sentences of topics not in used, each with its own figures: a real section says several things."""
    said = []
    for topic in rng.sample([t for t in TOPICS if t not in used], count):
        try:
            said.append(_fill(topic.statement, nouns, **_figures(topic, rng, avoid, taken)))
        except Exhausted:  # no free value of its kind left in this example: the section says one thing less
            continue
    return tuple(said)


def example(rng: random.Random, avoid: frozenset) -> list[dict]:
    """Three passages asked one or two questions, each with its answer, as messages in the app's grounded prompt."""
    org, kind = rng.choice(ORGANISATIONS)
    nouns = NOUNS[kind]
    asked, *others = rng.sample(TOPICS, 4)
    # distractors of the same kind of figure first, so the answer is found by meaning, not by its form
    others.sort(key=lambda t: t.slots[0].kind != asked.slots[0].kind or rng.random() < 0.3)
    taken: set = set()
    figures = {t.title: _figures(t, rng, avoid, taken) for t in [asked, *others]}
    answerable = rng.random() >= 0.04  # each passage set is asked twice, once always answerably: one in fifty in all
    shown = ([asked] if answerable else []) + others[:3 - answerable]
    slot_index = rng.randrange(len(asked.slots))
    slot = asked.slots[slot_index]
    if rng.random() < 0.12 and answerable:  # a table of several topics, the answer one row of it
        passages = [_table(shown[:2], [figures[t.title] for t in shown[:2]])]
        passages += [_passage(t, figures[t.title], nouns, org, "heading", rng) for t in others[1:]]
    else:
        shapes = ["heading", "heading", "plain", "top", "bullets"]
        passages = [_passage(t, figures[t.title], nouns, org, rng.choice(shapes), rng,
                             _neighbours(rng.randrange(3), [asked, *others], nouns, rng, avoid, taken))
                    for t in shown]
        if answerable and rng.random() < 0.4:  # the answer's passage holds another figure of the same kind
            near = next((t for t in TOPICS if t.slots[0].kind == slot.kind and t not in (asked, *others)),
                        rng.choice([t for t in TOPICS if t not in (asked, *others)]))
            try:
                fig = _figures(near, rng, avoid, taken)
            except Exhausted:
                pass  # every value of its kind taken: the answer's passage keeps the shape drawn above
            else:
                shape = rng.choice(["heading", "plain", "top"])
                more = _neighbours(rng.randrange(2), [asked, *others, near], nouns, rng, avoid, taken)
                passages[0] = _passage(asked, figures[asked.title], nouns, org, shape, rng,
                                       (_fill(near.statement, nouns, **fig), *more))
    rng.shuffle(passages)
    system = (f"You answer customer questions for {org} using the documents provided. Quote the exact figures."
              if rng.random() < 0.7 else NEUTRAL)
    # the same passages asked twice, about two of their topics: only the question tells which sentence answers
    titles = {p.title for p in passages}
    present = [t for t in others if t.title in titles or (t is others[0] and "At a glance" in titles)]
    asks = [(asked, slot_index, answerable)]
    if present:
        other = rng.choice(present)
        asks.append((other, rng.randrange(len(other.slots)), True))
    rows = []
    for topic, index, known in asks:
        s = topic.slots[index]
        question = _fill(rng.choice(s.questions), nouns)
        answer = _fill(s.answer, nouns, **figures[topic.title]) if known else NOT_SAID
        rows.append({"organisation": org, "topic": topic.title, "answerable": known, "question": question,
                     "messages": grounded_messages(question, passages, system), "answer": answer})
    return rows


def generate(count: int, seed: int, root: Path) -> list[dict]:
    """count examples, the same for the same seed and generator version."""
    rng, avoid, rows = random.Random(seed), larkspur_figures(root), []
    while len(rows) < count:
        rows += example(rng, avoid)
    return rows[:count]
