"""What the generated HST and JWST rule sets contain.

Everything here is real CRDS vocabulary, taken from the type specs the ``crds``
package ships (``crds/<obs>/specs/*.spec`` and ``crds/<obs>/tpns/*.tpn``):
instrument and filekind names, rmap parkeys, relevance expressions, the
FILETYPE/REFTYPE values and the keywords ``crds certify`` requires.

Each rmap has initial rows (match tuples, one value per parkey, ``N/A`` where a
parkey is irrelevant) and spare rows that later contexts add.  A reference's
header carries the row's values (except ``N/A``) plus ``ref_defaults``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, eq=False)  # hashed by identity
class RmapPlan:
    instrument: str  # lower case, as in mapping names
    filekind: str  # lower case, as in mapping names
    parkey: tuple[str, ...]  # match parameters
    rows: tuple[tuple, ...]  # rows of the first context
    spare_rows: tuple[tuple, ...] = ()  # rows later contexts add
    initial_useafter: str = "2002-03-01 00:00:00"
    header: dict = field(default_factory=dict)  # extra rmap header fields
    ref_defaults: dict = field(default_factory=dict)  # extra reference header keywords
    reference_format: str = "image"  # image | table


@dataclass(frozen=True)
class DatasetPlan:
    name: str
    instrument: str
    header: dict  # primary header keywords (FITS names)


@dataclass(frozen=True)
class ObservatoryPlan:
    name: str
    pmap_parkey: tuple[str, ...]
    imap_parkey: tuple[str, ...]
    date_keys: tuple[str, str]
    rmaps: tuple[RmapPlan, ...]
    datasets: tuple[DatasetPlan, ...]
    first_context: str  # date of the first context
    last_context: str  # date of the last context


# ---------------------------------------------------------------------------- HST

_ACS_DARK = RmapPlan(
    "acs", "darkfile",
    ("DETECTOR", "CCDAMP", "CCDGAIN"),
    rows=(("WFC", "ABCD", 2.0), ("WFC", "ABCD", 1.0), ("HRC", "ABCD", 2.0)),
    spare_rows=(("WFC", "AD", 2.0), ("HRC", "A", 1.0)),
    initial_useafter="2002-03-01 00:00:00",
    header={
        "parkey_relevance": {
            "ccdamp": '(DETECTOR != "SBC")',
            "ccdgain": '(DETECTOR != "SBC")',
        },
        "reffile_format": "IMAGE",
        "reffile_required": "YES",
        "reffile_switch": "DARKCORR",
        "rmap_relevance": '(DARKCORR != "OMIT")',
    },
    ref_defaults={"FILETYPE": "DARK"},
)

_ACS_PFLT = RmapPlan(
    "acs", "pfltfile",
    ("DETECTOR", "CCDAMP", "FILTER1", "FILTER2", "OBSTYPE", "FW1OFFST", "FW2OFFST", "FWSOFFST"),
    rows=(
        ("WFC", "ABCD", "F606W", "CLEAR2L", "IMAGING", "N/A", "N/A", "N/A"),
        ("WFC", "ABCD", "CLEAR1L", "F814W", "IMAGING", "N/A", "N/A", "N/A"),
        ("HRC", "ABCD", "F555W", "CLEAR2S", "IMAGING", "N/A", "N/A", "N/A"),
    ),
    spare_rows=(("WFC", "ABCD", "F775W", "CLEAR2L", "IMAGING", "N/A", "N/A", "N/A"),),
    initial_useafter="2002-03-01 00:00:00",
    header={
        "parkey_relevance": {
            "ccdamp": '(DETECTOR != "SBC")',
            "fw1offst": '(FW1OFFST == "-1.0" or FW1OFFST == "1.0")',
            "fw2offst": '(FW2OFFST == "-1.0" or FW2OFFST == "1.0")',
            "fwsoffst": '(FWSOFFST == "-1.0" or FWSOFFST == "1.0")',
        },
        "reffile_format": "IMAGE",
        "reffile_required": "YES",
        "reffile_switch": "FLATCORR",
        "rmap_relevance": '((OBSTYPE != "INTERNAL") and (FLATCORR != "OMIT"))',
    },
    ref_defaults={
        "FILETYPE": "PIXEL-TO-PIXEL FLAT", "CCDGAIN": 2.0,
        "FW1OFFST": 0, "FW2OFFST": 0, "FWSOFFST": 0,
    },
)

_WFC3_DARK = RmapPlan(
    "wfc3", "darkfile",
    ("DETECTOR", "CCDAMP", "BINAXIS1", "BINAXIS2", "CCDGAIN", "SAMP_SEQ", "SUBTYPE"),
    rows=(
        ("UVIS", "ABCD", 1.0, 1.0, "N/A", "N/A", "N/A"),
        ("IR", "ABCD", "N/A", "N/A", 2.5, "SPARS100", "FULLIMAG"),
    ),
    spare_rows=(
        ("UVIS", "ABCD", 2.0, 2.0, "N/A", "N/A", "N/A"),
        ("IR", "ABCD", "N/A", "N/A", 2.5, "SPARS200", "FULLIMAG"),
    ),
    initial_useafter="2009-05-14 00:00:00",
    header={
        "parkey_relevance": {
            "binaxis1": '(DETECTOR == "UVIS")',
            "binaxis2": '(DETECTOR == "UVIS")',
            "ccdgain": '(DETECTOR == "IR")',
            "samp_seq": '(DETECTOR == "IR")',
            "subtype": '(DETECTOR == "IR")',
        },
        "reffile_format": "IMAGE",
        "reffile_required": "NONE",
        "reffile_switch": "DARKCORR",
        "rmap_relevance": '(DARKCORR != "OMIT")',
    },
    ref_defaults={"FILETYPE": "DARK", "CCDGAIN": 1.5, "SUBTYPE": "FULLIMAG"},
)

_WFC3_PFLT = RmapPlan(
    "wfc3", "pfltfile",
    ("DETECTOR", "CCDAMP", "FILTER", "BINAXIS1", "BINAXIS2"),
    rows=(
        ("UVIS", "ABCD", "F606W", 1.0, 1.0),
        ("UVIS", "ABCD", "F814W", 1.0, 1.0),
        ("IR", "ABCD", "F160W", "N/A", "N/A"),
    ),
    spare_rows=(("IR", "ABCD", "F125W", "N/A", "N/A"),),
    initial_useafter="2009-05-14 00:00:00",
    header={
        "parkey_relevance": {
            "binaxis1": '(DETECTOR == "UVIS")',
            "binaxis2": '(DETECTOR == "UVIS")',
        },
        "reffile_format": "IMAGE",
        "reffile_required": "NONE",
        "reffile_switch": "FLATCORR",
        "rmap_relevance": '((FILTER != "BLANK") and (FLATCORR != "OMIT"))',
    },
    ref_defaults={"FILETYPE": "PIXEL-TO-PIXEL FLAT"},
)

_COS_FLAT = RmapPlan(
    "cos", "flatfile",
    ("DETECTOR",),
    rows=(("FUV",), ("NUV",)),
    initial_useafter="2009-05-11 00:00:00",
    header={
        "reffile_format": "IMAGE",
        "reffile_required": "NO",
        "reffile_switch": "FLATCORR",
        "rmap_relevance": '(FLATCORR != "OMIT")',
    },
    ref_defaults={"FILETYPE": "FLAT FIELD REFERENCE IMAGE", "VCALCOS": "3.4", "LIFE_ADJ": -1},
)

_COS_DEAD = RmapPlan(
    "cos", "deadtab",
    ("DETECTOR",),
    rows=(("FUV",), ("NUV",)),
    initial_useafter="2009-05-11 00:00:00",
    header={
        "reffile_format": "TABLE",
        "reffile_required": "NONE",
        "reffile_switch": "DEADCORR",
        "rmap_relevance": '(DEADCORR != "OMIT")',
    },
    ref_defaults={"FILETYPE": "DEADTIME REFERENCE TABLE", "VCALCOS": "3.4"},
    reference_format="table",
)

_HST_DATE = {"DATE-OBS": "2024-11-20", "TIME-OBS": "10:11:12"}

HST = ObservatoryPlan(
    name="hst",
    pmap_parkey=("INSTRUME",),
    imap_parkey=("REFTYPE",),
    date_keys=("DATE-OBS", "TIME-OBS"),
    rmaps=(_ACS_DARK, _ACS_PFLT, _WFC3_DARK, _WFC3_PFLT, _COS_FLAT, _COS_DEAD),
    datasets=(
        DatasetPlan("jdemo1wfq_raw.fits", "acs", {
            "INSTRUME": "ACS", "DETECTOR": "WFC", "CCDAMP": "ABCD", "CCDGAIN": 2.0,
            "FILTER1": "F606W", "FILTER2": "CLEAR2L", "OBSTYPE": "IMAGING",
            "FW1OFFST": 0, "FW2OFFST": 0, "FWSOFFST": 0,
            "DARKCORR": "PERFORM", "FLATCORR": "PERFORM", **_HST_DATE}),
        DatasetPlan("jdemo2hrq_raw.fits", "acs", {
            "INSTRUME": "ACS", "DETECTOR": "HRC", "CCDAMP": "ABCD", "CCDGAIN": 2.0,
            "FILTER1": "F555W", "FILTER2": "CLEAR2S", "OBSTYPE": "IMAGING",
            "FW1OFFST": 0, "FW2OFFST": 0, "FWSOFFST": 0,
            "DARKCORR": "PERFORM", "FLATCORR": "PERFORM", **_HST_DATE}),
        DatasetPlan("idemo1uvq_raw.fits", "wfc3", {
            "INSTRUME": "WFC3", "DETECTOR": "UVIS", "CCDAMP": "ABCD", "CCDGAIN": 1.5,
            "BINAXIS1": 1, "BINAXIS2": 1, "SAMP_SEQ": "NONE", "SUBTYPE": "FULLIMAG",
            "FILTER": "F814W", "DARKCORR": "PERFORM", "FLATCORR": "PERFORM", **_HST_DATE}),
        DatasetPlan("idemo2irq_raw.fits", "wfc3", {
            "INSTRUME": "WFC3", "DETECTOR": "IR", "CCDAMP": "ABCD", "CCDGAIN": 2.5,
            "BINAXIS1": 1, "BINAXIS2": 1, "SAMP_SEQ": "SPARS100", "SUBTYPE": "FULLIMAG",
            "FILTER": "F160W", "DARKCORR": "PERFORM", "FLATCORR": "PERFORM", **_HST_DATE}),
        DatasetPlan("ldemo1fuq_rawtag_a.fits", "cos", {
            "INSTRUME": "COS", "DETECTOR": "FUV", "OPT_ELEM": "G130M",
            "FLATCORR": "PERFORM", "DEADCORR": "PERFORM", **_HST_DATE}),
    ),
    first_context="2019-02-11 14:03:27",
    last_context="2024-10-29 09:41:05",
)

# ---------------------------------------------------------------------------- JWST

# Subarray geometry: (SUBSTRT1, SUBSTRT2, SUBSIZE1, SUBSIZE2, FASTAXIS, SLOWAXIS)
SUBARRAYS = {
    ("MIRI", "SUB64"): (1, 779, 72, 64),
    ("MIRI", "SUB128"): (1, 889, 136, 128),
    ("NIRCAM", "SUB64P"): (1, 1, 64, 64),
}
DETECTOR_AXES = {
    "MIRIMAGE": (1, 2),
    "NRCA1": (-1, 2), "NRCA2": (1, -2), "NRCB1": (1, -2), "NRCB2": (-1, 2),
}

_JWST_COMMON = {"TELESCOP": "JWST", "AUTHOR": "CRDS fleet seeding"}

_MIRI_GAIN = RmapPlan(
    "miri", "gain",
    ("META.INSTRUMENT.DETECTOR", "META.SUBARRAY.NAME"),
    rows=(("MIRIMAGE", "SUB64"), ("MIRIMAGE", "SUB128")),
    initial_useafter="2014-01-01 00:00:00",
    ref_defaults={"REFTYPE": "GAIN", "DATAMODL": "GainModel", "BUNIT": "ELECTRONS/DN",
                  "EXP_TYPE": "MIR_IMAGE"},
)
_MIRI_READNOISE = RmapPlan(
    "miri", "readnoise",
    ("META.INSTRUMENT.DETECTOR", "META.SUBARRAY.NAME"),
    rows=(("MIRIMAGE", "SUB64"), ("MIRIMAGE", "SUB128")),
    initial_useafter="2014-01-01 00:00:00",
    ref_defaults={"REFTYPE": "READNOISE", "DATAMODL": "ReadnoiseModel", "BUNIT": "DN",
                  "EXP_TYPE": "MIR_IMAGE"},
)
_MIRI_FLAT = RmapPlan(
    "miri", "flat",
    ("META.INSTRUMENT.DETECTOR", "META.INSTRUMENT.FILTER", "META.SUBARRAY.NAME"),
    rows=(("MIRIMAGE", "F770W", "SUB64"), ("MIRIMAGE", "F1000W", "SUB64")),
    spare_rows=(("MIRIMAGE", "F560W", "SUB64"), ("MIRIMAGE", "F770W", "SUB128")),
    initial_useafter="2014-01-01 00:00:00",
    ref_defaults={"REFTYPE": "FLAT", "DATAMODL": "FlatModel", "EXP_TYPE": "MIR_IMAGE"},
)
_NRC_GAIN = RmapPlan(
    "nircam", "gain",
    ("META.INSTRUMENT.DETECTOR", "META.SUBARRAY.NAME"),
    rows=(("NRCA1", "SUB64P"), ("NRCB1", "SUB64P")),
    spare_rows=(("NRCA2", "SUB64P"),),
    initial_useafter="2014-01-01 00:00:00",
    ref_defaults={"REFTYPE": "GAIN", "DATAMODL": "GainModel", "BUNIT": "ELECTRONS/DN",
                  "EXP_TYPE": "NRC_IMAGE"},
)
_NRC_READNOISE = RmapPlan(
    "nircam", "readnoise",
    ("META.INSTRUMENT.DETECTOR", "META.SUBARRAY.NAME"),
    rows=(("NRCA1", "SUB64P"), ("NRCB1", "SUB64P")),
    spare_rows=(("NRCB2", "SUB64P"),),
    initial_useafter="2014-01-01 00:00:00",
    ref_defaults={"REFTYPE": "READNOISE", "DATAMODL": "ReadnoiseModel", "BUNIT": "DN",
                  "EXP_TYPE": "NRC_IMAGE"},
)
_NRC_FLAT = RmapPlan(
    "nircam", "flat",
    ("META.INSTRUMENT.DETECTOR", "META.INSTRUMENT.FILTER", "META.INSTRUMENT.PUPIL"),
    rows=(("NRCA1", "F200W", "CLEAR"), ("NRCB1", "F200W", "CLEAR")),
    spare_rows=(("NRCA1", "F150W", "CLEAR"),),
    initial_useafter="2014-01-01 00:00:00",
    ref_defaults={"REFTYPE": "FLAT", "DATAMODL": "FlatModel", "EXP_TYPE": "NRC_IMAGE",
                  "SUBARRAY": "SUB64P"},
)

_JWST_DATE = {"DATE-OBS": "2024-11-20", "TIME-OBS": "10:11:12.000"}

JWST = ObservatoryPlan(
    name="jwst",
    pmap_parkey=("META.INSTRUMENT.NAME",),
    imap_parkey=("REFTYPE",),
    date_keys=("META.OBSERVATION.DATE", "META.OBSERVATION.TIME"),
    rmaps=(_MIRI_GAIN, _MIRI_READNOISE, _MIRI_FLAT, _NRC_GAIN, _NRC_READNOISE, _NRC_FLAT),
    datasets=(
        DatasetPlan("jw01024001001_02101_00001_mirimage_uncal.fits", "miri", {
            "TELESCOP": "JWST", "INSTRUME": "MIRI", "DETECTOR": "MIRIMAGE",
            "FILTER": "F770W", "SUBARRAY": "SUB64", "EXP_TYPE": "MIR_IMAGE",
            "READPATT": "FAST", "BAND": "N/A", **_JWST_DATE}),
        DatasetPlan("jw01024002001_02101_00001_nrca1_uncal.fits", "nircam", {
            "TELESCOP": "JWST", "INSTRUME": "NIRCAM", "DETECTOR": "NRCA1",
            "FILTER": "F200W", "PUPIL": "CLEAR", "SUBARRAY": "SUB64P",
            "EXP_TYPE": "NRC_IMAGE", "READPATT": "RAPID", "CHANNEL": "SHORT", **_JWST_DATE}),
        DatasetPlan("jw01024003001_02101_00001_nrcb1_uncal.fits", "nircam", {
            "TELESCOP": "JWST", "INSTRUME": "NIRCAM", "DETECTOR": "NRCB1",
            "FILTER": "F200W", "PUPIL": "CLEAR", "SUBARRAY": "SUB64P",
            "EXP_TYPE": "NRC_IMAGE", "READPATT": "RAPID", "CHANNEL": "SHORT", **_JWST_DATE}),
    ),
    first_context="2019-03-04 16:22:41",
    last_context="2024-11-12 11:05:19",
)

OBSERVATORIES = {"hst": HST, "jwst": JWST}

# JWST data model paths used as parkeys -> FITS keywords
DM_TO_FITS = {
    "META.INSTRUMENT.NAME": "INSTRUME",
    "META.INSTRUMENT.DETECTOR": "DETECTOR",
    "META.INSTRUMENT.FILTER": "FILTER",
    "META.INSTRUMENT.PUPIL": "PUPIL",
    "META.INSTRUMENT.BAND": "BAND",
    "META.SUBARRAY.NAME": "SUBARRAY",
    "META.EXPOSURE.READPATT": "READPATT",
    "META.EXPOSURE.TYPE": "EXP_TYPE",
    "META.OBSERVATION.DATE": "DATE-OBS",
    "META.OBSERVATION.TIME": "TIME-OBS",
}

JWST_COMMON_REF = _JWST_COMMON
