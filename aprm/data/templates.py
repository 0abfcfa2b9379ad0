"""Wording of the synthetic word problems: template set A (train and the id/long/big/div suites)
and the held-out set B (the `unseen` suite: other names, object nouns, connectives and phrasings).

Placeholders: {name}; {pron}/{Pron} subject pronoun; {poss}/{Poss} possessive; {objp} object
pronoun; {n} the operand; {objn} the noun agreeing with {n} (singular when n == 1); {obj} the
plural noun. Question clauses start lower-case (a connective may precede them); step clauses are
complete and get ", so A op B = C." appended by the generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

PRONOUNS = {
    "f": {"pron": "she", "Pron": "She", "poss": "her", "Poss": "Her", "objp": "her"},
    "m": {"pron": "he", "Pron": "He", "poss": "his", "Poss": "His", "objp": "him"},
}


@dataclass(frozen=True)
class OpTemplate:
    question: str
    step: str


@dataclass(frozen=True)
class TemplateSet:
    name: str
    characters: tuple[tuple[str, str], ...]  # (name, pronoun key in PRONOUNS)
    objects: tuple[tuple[str, str], ...]  # (singular, plural)
    intros: tuple[str, ...]
    questions: tuple[str, ...]
    connectives: tuple[str, ...]  # "" = none; the sentence is then capitalised
    ops: Mapping[str, tuple[OpTemplate, ...]]


SET_A = TemplateSet(
    name="A",
    characters=(("Ava", "f"), ("Liam", "m"), ("Emma", "f"), ("Noah", "m"), ("Mia", "f"),
                ("Ethan", "m"), ("Zoe", "f"), ("Omar", "m"), ("Priya", "f"), ("Lucas", "m"),
                ("Sofia", "f"), ("Ben", "m"), ("Chloe", "f"), ("Jack", "m"), ("Maya", "f"),
                ("Leo", "m")),
    objects=(("sticker", "stickers"), ("marble", "marbles"), ("apple", "apples"),
             ("pencil", "pencils"), ("cookie", "cookies"), ("book", "books"),
             ("stamp", "stamps"), ("crayon", "crayons"), ("toy car", "toy cars"),
             ("bead", "beads"), ("card", "cards"), ("balloon", "balloons")),
    intros=(
        "{name} has {n} {objn}.",
        "{name} starts the day with {n} {objn}.",
        "{name}'s box holds {n} {objn}.",
        "{name} owns {n} {objn}.",
        "{name} has a collection of {n} {objn}.",
        "At first, {name} has {n} {objn}.",
    ),
    questions=(
        "How many {obj} does {name} have now?",
        "How many {obj} does {name} have at the end?",
        "How many {obj} are in {name}'s collection now?",
        "What is the number of {obj} {name} has now?",
        "How many {obj} does {name} end up with?",
        "Now how many {obj} does {name} have?",
    ),
    connectives=("", "Then ", "After that, ", "Next, ", "Later, "),
    ops={
        "+": (
            OpTemplate("{pron} buys {n} more {objn}", "{Pron} buys {n} more"),
            OpTemplate("{pron} finds {n} more {objn}", "{Pron} finds {n} more"),
            OpTemplate("a friend gives {objp} {n} {objn}", "A friend gives {objp} {n}"),
            OpTemplate("{pron} wins {n} {objn} in a game", "{Pron} wins {n}"),
            OpTemplate("{pron} gets {n} more {objn} as a gift", "{Pron} gets {n} as a gift"),
            OpTemplate("{pron} adds {n} {objn} to {poss} collection", "{Pron} adds {n}"),
            OpTemplate("{pron} receives {n} extra {objn}", "{Pron} receives {n} extra"),
        ),
        "-": (
            OpTemplate("{pron} gives away {n} {objn}", "{Pron} gives away {n}"),
            OpTemplate("{pron} loses {n} {objn}", "{Pron} loses {n}"),
            OpTemplate("{pron} sells {n} of {poss} {obj}", "{Pron} sells {n}"),
            OpTemplate("{pron} trades away {n} {objn}", "{Pron} trades away {n}"),
            OpTemplate("{pron} gives {n} {objn} to a friend", "{Pron} gives {n} to a friend"),
            OpTemplate("{pron} throws out {n} broken {objn}", "{Pron} throws out {n}"),
            OpTemplate("{pron} uses up {n} {objn}", "{Pron} uses up {n}"),
        ),
        "*": (
            OpTemplate("{pron} ends up with {n} times as many {obj} as before",
                       "{Pron} ends up with {n} times as many"),
            OpTemplate("{poss} collection grows to {n} times its size",
                       "{Poss} collection grows to {n} times its size"),
            OpTemplate("{pron} now has {n} times as many {obj} as before",
                       "{Pron} now has {n} times as many"),
            OpTemplate("after a big sale, {pron} owns {n} times as many {obj}",
                       "{Pron} owns {n} times as many after the sale"),
            OpTemplate("{pron} swaps each of {poss} {obj} for {n} new ones",
                       "{Pron} gets {n} for each one"),
            OpTemplate("the number of {obj} {pron} has becomes {n} times as large",
                       "The number becomes {n} times as large"),
        ),
        "/": (
            OpTemplate("{pron} splits {poss} {obj} into {n} equal piles and keeps one pile",
                       "{Pron} keeps one of {n} equal piles"),
            OpTemplate("{pron} divides {poss} {obj} equally into {n} boxes and keeps just one box",
                       "{Pron} keeps one of {n} equal boxes"),
            OpTemplate("{pron} keeps only one out of every {n} {obj}",
                       "{Pron} keeps one out of every {n}"),
            OpTemplate("{poss} {obj} are shared equally by {n} kids, and {pron} keeps one share",
                       "{Pron} keeps one share out of {n}"),
            OpTemplate("{pron} packs {poss} {obj} into {n} equal bags and gives away all bags "
                       "but one", "{Pron} keeps one of {n} equal bags"),
            OpTemplate("{pron} cuts {poss} pile of {obj} into {n} equal parts and keeps one part",
                       "{Pron} keeps one of {n} equal parts"),
        ),
    },
)

SET_B = TemplateSet(
    name="B",
    characters=(("Hiro", "m"), ("Fatima", "f"), ("Diego", "m"), ("Ingrid", "f"),
                ("Kwame", "m"), ("Yuki", "f"), ("Arjun", "m"), ("Rosa", "f"), ("Tariq", "m"),
                ("Elena", "f")),
    objects=(("seashell", "seashells"), ("coin", "coins"), ("feather", "feathers"),
             ("button", "buttons"), ("acorn", "acorns"), ("postcard", "postcards"),
             ("pebble", "pebbles"), ("ribbon", "ribbons"), ("keychain", "keychains"),
             ("puzzle piece", "puzzle pieces")),
    intros=(
        "In the beginning, {name} keeps {n} {objn} in a jar.",
        "{name}'s drawer holds {n} {objn}.",
        "{name} was given {n} {objn} for a birthday.",
        "Initially, {name}'s shelf holds {n} {objn}.",
    ),
    questions=(
        "What is the total number of {obj} that {name} owns at the end?",
        "Once all this is done, how many {obj} remain with {name}?",
        "After all of that, how large is {name}'s stock of {obj}?",
        "How many {obj} are left in {name}'s possession in the end?",
    ),
    connectives=("", "Afterwards, ", "Subsequently, ", "A little later, ", "Following that, "),
    ops={
        "+": (
            OpTemplate("a neighbor hands {objp} {n} additional {objn}",
                       "A neighbor hands over {n}"),
            OpTemplate("{pron} picks up another {n} {objn} at the market",
                       "{Pron} picks up another {n}"),
            OpTemplate("{poss} cousin mails {objp} {n} {objn}", "{Poss} cousin mails {n}"),
            OpTemplate("{pron} earns {n} {objn} as a reward", "{Pron} earns {n}"),
        ),
        "-": (
            OpTemplate("{pron} donates {n} {objn} to a school", "{Pron} donates {n}"),
            OpTemplate("{pron} misplaces {n} {objn}", "{Pron} misplaces {n}"),
            OpTemplate("{pron} hands {n} {objn} over to a sibling", "{Pron} hands over {n}"),
            OpTemplate("a storm ruins {n} of the {obj}", "A storm ruins {n}"),
        ),
        "*": (
            OpTemplate("{poss} stock of {obj} becomes {n}-fold larger",
                       "{Poss} stock becomes {n}-fold larger"),
            OpTemplate("{pron} multiplies {poss} {obj} by {n} through trading",
                       "{Pron} multiplies the count by {n}"),
            OpTemplate("every one of {poss} {obj} is exchanged for {n} new ones",
                       "Each one is exchanged for {n}"),
            OpTemplate("{pron} now holds {n} times the {obj} {pron} held before",
                       "{Pron} now holds {n} times the amount"),
        ),
        "/": (
            OpTemplate("{pron} divides {poss} {obj} into {n} equal shares and holds on to one",
                       "{Pron} holds on to one of {n} equal shares"),
            OpTemplate("only one in every {n} {obj} is kept by {objp}",
                       "One in every {n} is kept"),
            OpTemplate("{pron} spreads {poss} {obj} evenly over {n} shelves and keeps one shelf",
                       "{Pron} retains one of {n} even shelves"),
            OpTemplate("{poss} {obj} are split fairly among {n} cousins, {objp} included, and "
                       "{pron} keeps {poss} portion", "{Pron} retains a portion out of {n}"),
        ),
    },
)

TEMPLATE_SETS = {SET_A.name: SET_A, SET_B.name: SET_B}
