"""Runway's models per route: the names Runway's SDKs type today (`runwayml` 5.24,
`@runwayml/sdk` 4.20) and the older names CometAPI's pages still use. The usage answer
names only models Runway's SDK can read in its strict mode.
"""

from __future__ import annotations

# The models that both make a video and change one.
_VIDEO_AND_EDIT = (
    "klingO3_4k",
    "klingO3_pro",
    "klingO3_standard",
    "kling_4",
    "seedance2",
    "seedance2_5",
    "seedance2_fast",
    "seedance2_mini",
)
_VIDEO_MODELS = (
    "gen4.5",
    "veo3.1",
    "veo3.1_fast",
    "gemini_omni_flash",
    "gemini_omni_flash_1.1",
    "grok_imagine_1_5",
    "grok_imagine_1_5_lite",
    "h3_max",
    "hailuo3",
    "happyhorse_1_0",
    "kling2.5_turbo_pro",
    "kling3.0_4k",
    "kling3.0_pro",
    "kling3.0_standard",
    *_VIDEO_AND_EDIT,
    "wan3",
    "wan3_prime",
)

# Route (the path after `/v1/`) -> (the SDK's names, CometAPI's names the SDK dropped).
MODELS_BY_ROUTE: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "image_to_video": (("gen4_turbo", *_VIDEO_MODELS), ("gen3a_turbo",)),
    "text_to_video": (_VIDEO_MODELS, ()),
    "video_to_video": (
        (
            "aleph2",
            "gemini_omni_flash",
            "gemini_omni_flash_1.1",
            "hailuo3",
            *_VIDEO_AND_EDIT,
        ),
        ("gen4_aleph",),
    ),
    "text_to_image": (
        (
            "gen4_image",
            "gen4_image_turbo",
            "gpt_image_2",
            "gpt_image_2_5_flare",
            "gpt_image_2_5_sunburst",
            "bria_fibo_1_5",
            "bria_fibo_edit_1_5",
            "gemini_2.5_flash",
            "gemini_image3.1_flash",
            "gemini_image3.1_flash_lite",
            "gemini_image3_pro",
            "grok_imagine_image_2",
            "ideogram_4_0",
            "ideogram_4_5",
            "muse_image",
            "nano_banana_2.1",
            "recraft_v4_1_flash",
            "recraft_v4_1_vector",
            "seedream5_flash",
            "seedream5_lite",
            "seedream5_pro",
        ),
        (),
    ),
    "character_performance": (("act_two",), ()),
    "video_upscale": (("magnific_video_upscaler_creative", "enhance_frame_rate"), ()),
    "image_upscale": (("magnific_precision_upscaler_v2",), ()),
    "sound_effect": (("eleven_text_to_sound_v2", "mirelo_sfx_2_0", "seed_audio"), ()),
    "text_to_speech": (("eleven_multilingual_v2", "eleven_v3", "eleven_v4", "seed_audio"), ()),
    "speech_to_speech": (("eleven_multilingual_sts_v2",), ()),
    "voice_dubbing": (("eleven_voice_dubbing",), ()),
    "voice_isolation": (("eleven_voice_isolation",), ()),
    "video_to_audio": (("mirelo_sfx_2_0",), ()),
    # Routes the relay's table does not know (passed through to CometAPI as sent).
    "video_to_hdr": (("ruby",), ()),
    "avatar_videos": (("gwm1_avatars",), ()),
}

# Every model Runway's usage answer may name (its SDK's strict mode refuses any other).
USAGE_MODELS: frozenset[str] = frozenset(
    {
        *(name for sdk, comet in MODELS_BY_ROUTE.values() for name in (*sdk, *comet)),
        "veo3",
        "eleven_scribe_v2",
        "gwm1_avatar_async_audio_to_video",
        "gwm1_avatar_async_text_to_video",
        "voice_processing",
        "product_swap",
        "product_ad",
        "multi_shot_video",
        "product_ugc",
        "marketing_stock_image",
        "product_campaign_image",
        "ad_localization",
    }
)


def models_of(route: str) -> tuple[str, ...] | None:
    """The models a route takes, Runway's names first; None: the table does not say."""
    found = MODELS_BY_ROUTE.get(route)
    return None if found is None else (*found[0], *found[1])


def model_error(route: str, model: object) -> str | None:
    """Why CometAPI would refuse this model on this route, or None."""
    known = models_of(route)
    if known is None:
        return None  # a route the table does not say (Runway's model router takes none)
    if not isinstance(model, str) or not model.strip():
        return "model is required"
    if model in known:
        return None
    return f"model {model} is not available for {route}; use one of {', '.join(known)}"
