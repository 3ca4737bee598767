//! The spoken languages speech can be rendered in, and how an item names
//! its language: the released audio set by folder (`germanphrases/`,
//! `common_voice_vi/`), the synthetic set by an English language name in
//! `media_description`.

use std::collections::BTreeSet;

/// A language espeak-ng can speak, with sentences written in its own script.
#[derive(Debug, PartialEq, Eq)]
pub struct Language {
    /// ISO 639-1 code where there is one (639-3 otherwise, e.g. `yue`).
    pub code: &'static str,
    /// English name, as a description would use it.
    pub name: &'static str,
    /// Other English names that mean the same language.
    pub aliases: &'static [&'static str],
    /// The Whisper language token (what language ID should find), `None`
    /// where Whisper has none (Esperanto).
    pub whisper: Option<&'static str>,
    /// `espeak-ng -v` voice.
    pub espeak: &'static str,
    /// At least three natural sentences; one of them is held out for eval.
    pub sentences: &'static [&'static str],
}

/// Language names that occur in descriptions but that espeak-ng (or the
/// table) cannot speak. They still count when deciding whether a
/// description names more than one language.
#[rustfmt::skip]
const UNSPEAKABLE: &[&str] = &[
    "hokkien", "taiwanese", "tagalog", "filipino", "yoruba", "hausa", "igbo", "wolof", "somali",
    "zulu", "xhosa", "kinyarwanda", "quechua", "kurdish", "lao", "khmer", "burmese", "mongolian",
    "uzbek", "kazakh", "pashto", "galician", "irish", "dhivehi", "tibetan", "maltese", "malay",
    "javanese", "sundanese", "punjabi", "gujarati", "marathi", "telugu", "kannada", "malayalam",
    "sinhala", "albanian", "macedonian", "belarusian", "bosnian", "azerbaijani", "latin",
];

/// Looks a language up by its code (case-insensitive).
pub fn by_code(code: &str) -> Option<&'static Language> {
    let code = code.to_ascii_lowercase();
    LANGUAGES.iter().find(|l| l.code == code)
}

/// Looks a language up by its English name or an alias (case-insensitive).
pub fn by_name(name: &str) -> Option<&'static Language> {
    LANGUAGES.iter().find(|l| {
        l.name.eq_ignore_ascii_case(name) || l.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    })
}

/// The language of a released audio item, from the first folder of its
/// path: `<language>phrases` or `<language>phrase`, or `common_voice_<code>`.
/// Folders that hold no speech in a known language (`audio_dataset`,
/// `audioset2`, `music`, `.`, `Hokkien`...) give `None`, and so do codes
/// espeak-ng cannot speak (`common_voice_dv`).
pub fn from_media_path(path: &str) -> Option<&'static Language> {
    let folder = path.trim().trim_start_matches("./").split('/').next()?;
    let folder = folder.to_ascii_lowercase();
    if let Some(code) = folder.strip_prefix("common_voice_") {
        return by_code(code);
    }
    let name = folder
        .strip_suffix("phrases")
        .or_else(|| folder.strip_suffix("phrase"))?;
    by_name(name)
}

/// The language a description says is spoken: the one language it names
/// (whole words, any case). `None` when it names none, or several: a
/// "Spanish-accented English" recording cannot be rendered as one language.
pub fn from_description(text: &str) -> Option<&'static Language> {
    let mut named: BTreeSet<&str> = BTreeSet::new();
    let mut found = None;
    for word in words(text) {
        if let Some(lang) = by_name(&word) {
            named.insert(lang.code);
            found = Some(lang);
        } else if UNSPEAKABLE.contains(&word.as_str()) {
            named.insert("?");
        }
    }
    if named.len() == 1 {
        found
    } else {
        None
    }
}

/// Lower-case words of a text (letters and digits; `-` and `'` split).
pub(crate) fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

macro_rules! lang {
    ($code:literal, $name:literal, [$($alias:literal),*], $whisper:expr, $espeak:literal, [$($s:literal),+ $(,)?]) => {
        Language {
            code: $code,
            name: $name,
            aliases: &[$($alias),*],
            whisper: $whisper,
            espeak: $espeak,
            sentences: &[$($s),+],
        }
    };
}

/// Every supported language. The sentences are everyday requests and
/// statements, so that a recogniser hears ordinary words of the language.
pub static LANGUAGES: &[Language] = &[
    lang!(
        "en",
        "English",
        [],
        Some("en"),
        "en-us",
        [
            "The train to the city leaves at half past eight every morning.",
            "Could you please send me the report before the meeting tomorrow?",
            "We spent the whole weekend walking along the coast with our dog.",
            "I think it is going to rain this afternoon, so take an umbrella.",
        ]
    ),
    lang!(
        "de",
        "German",
        [],
        Some("de"),
        "de",
        [
            "Der Zug nach Berlin fährt jeden Morgen um acht Uhr ab.",
            "Könnten Sie mir bitte sagen, wo der nächste Bahnhof ist?",
            "Am Wochenende haben wir mit den Kindern einen Ausflug in die Berge gemacht.",
            "Ich trinke meinen Kaffee am liebsten ohne Zucker und mit etwas Milch.",
        ]
    ),
    lang!(
        "fr",
        "French",
        [],
        Some("fr"),
        "fr-fr",
        [
            "Le train pour Paris part tous les matins à huit heures.",
            "Pourriez-vous m'indiquer le chemin de la gare, s'il vous plaît ?",
            "Ce week-end, nous sommes allés nous promener au bord de la mer.",
            "J'aimerais réserver une table pour quatre personnes ce soir.",
        ]
    ),
    lang!(
        "es",
        "Spanish",
        [],
        Some("es"),
        "es",
        [
            "El tren a Madrid sale todas las mañanas a las ocho.",
            "¿Podría decirme dónde está la parada de autobús más cercana?",
            "El fin de semana pasado fuimos a la playa con toda la familia.",
            "Me gustaría pedir un café con leche y una tostada, por favor.",
        ]
    ),
    lang!(
        "it",
        "Italian",
        [],
        Some("it"),
        "it",
        [
            "Il treno per Roma parte ogni mattina alle otto.",
            "Scusi, mi può dire dove si trova la stazione?",
            "Lo scorso fine settimana siamo andati al mare con i nostri amici.",
            "Vorrei prenotare un tavolo per due persone per stasera.",
        ]
    ),
    lang!(
        "pt",
        "Portuguese",
        [],
        Some("pt"),
        "pt-br",
        [
            "O ônibus para o centro passa a cada quinze minutos.",
            "Você pode me dizer onde fica a estação mais próxima?",
            "No fim de semana passado fomos à praia com toda a família.",
            "Eu gostaria de um café com leite e um pão de queijo, por favor.",
        ]
    ),
    lang!(
        "nl",
        "Dutch",
        ["Flemish"],
        Some("nl"),
        "nl",
        [
            "De trein naar Amsterdam vertrekt elke ochtend om acht uur.",
            "Kunt u mij vertellen waar het dichtstbijzijnde station is?",
            "Afgelopen weekend zijn we met de fiets naar het strand gegaan.",
            "Ik wil graag een kopje koffie met een beetje melk.",
        ]
    ),
    lang!(
        "ru",
        "Russian",
        [],
        Some("ru"),
        "ru",
        [
            "Поезд в Москву отправляется каждое утро в восемь часов.",
            "Скажите, пожалуйста, как пройти к ближайшей станции метро?",
            "В прошлые выходные мы ездили за город к бабушке.",
            "Я бы хотел заказать чашку чая с лимоном.",
        ]
    ),
    lang!(
        "pl",
        "Polish",
        [],
        Some("pl"),
        "pl",
        [
            "Pociąg do Warszawy odjeżdża codziennie rano o ósmej.",
            "Czy może mi pan powiedzieć, gdzie jest najbliższy przystanek?",
            "W zeszły weekend pojechaliśmy z rodziną nad morze.",
            "Poproszę kawę z mlekiem i kawałek sernika.",
        ]
    ),
    lang!(
        "tr",
        "Turkish",
        [],
        Some("tr"),
        "tr",
        [
            "İstanbul treni her sabah saat sekizde kalkıyor.",
            "Affedersiniz, en yakın otobüs durağı nerede?",
            "Geçen hafta sonu ailemle birlikte deniz kenarına gittik.",
            "Bir bardak çay ve bir simit alabilir miyim lütfen?",
        ]
    ),
    lang!(
        "el",
        "Greek",
        [],
        Some("el"),
        "el",
        [
            "Το τρένο για την Αθήνα φεύγει κάθε πρωί στις οκτώ.",
            "Συγγνώμη, μπορείτε να μου πείτε πού είναι η πλησιέστερη στάση;",
            "Το περασμένο Σαββατοκύριακο πήγαμε στη θάλασσα με τους φίλους μας.",
            "Θα ήθελα έναν καφέ χωρίς ζάχαρη, παρακαλώ.",
        ]
    ),
    lang!(
        "fa",
        "Persian",
        ["Farsi"],
        Some("fa"),
        "fa",
        [
            "قطار تهران هر روز صبح ساعت هشت حرکت می‌کند.",
            "ببخشید، می‌توانید بگویید نزدیک‌ترین ایستگاه کجاست؟",
            "آخر هفته گذشته با خانواده به کنار دریا رفتیم.",
            "لطفاً یک فنجان چای با کمی شکر برایم بیاورید.",
        ]
    ),
    lang!(
        "ar",
        "Arabic",
        [],
        Some("ar"),
        "ar",
        [
            "يغادر القطار إلى القاهرة كل صباح في الساعة الثامنة.",
            "من فضلك، هل يمكنك أن تخبرني أين أقرب محطة؟",
            "ذهبنا في عطلة نهاية الأسبوع الماضية إلى البحر مع العائلة.",
            "أريد فنجان قهوة بدون سكر من فضلك.",
        ]
    ),
    lang!(
        "hi",
        "Hindi",
        [],
        Some("hi"),
        "hi",
        [
            "दिल्ली जाने वाली ट्रेन हर सुबह आठ बजे निकलती है।",
            "क्या आप मुझे बता सकते हैं कि सबसे नज़दीकी स्टेशन कहाँ है?",
            "पिछले सप्ताहांत हम परिवार के साथ समुद्र के किनारे गए थे।",
            "मुझे एक कप चाय चाहिए, कम चीनी के साथ।",
        ]
    ),
    lang!(
        "zh",
        "Mandarin",
        ["Chinese", "Putonghua"],
        Some("zh"),
        "cmn",
        [
            "去北京的火车每天早上八点出发。",
            "请问，最近的地铁站在哪里？",
            "上个周末我们全家去海边玩了。",
            "我想要一杯不加糖的咖啡，谢谢。",
        ]
    ),
    // Whisper base has no Cantonese token (large-v3 added `yue`); it hears
    // Cantonese as Chinese.
    lang!(
        "yue",
        "Cantonese",
        [],
        Some("zh"),
        "yue",
        [
            "去九龍嘅巴士每十分鐘就有一班。",
            "唔該，請問最近嘅地鐵站喺邊度？",
            "上個禮拜六我哋一家人去咗海灘玩。",
            "我想要一杯凍奶茶，少甜，唔該。",
        ]
    ),
    // Kana only: espeak-ng reads kanji as "Chinese letter" in English.
    lang!(
        "ja",
        "Japanese",
        [],
        Some("ja"),
        "ja",
        [
            "とうきょうゆきのでんしゃは、まいあさはちじにでます。",
            "すみません、いちばんちかいえきはどこですか？",
            "せんしゅうまつは、かぞくといっしょにうみへいきました。",
            "コーヒーをひとつ、さとうなしでおねがいします。",
        ]
    ),
    lang!(
        "ko",
        "Korean",
        [],
        Some("ko"),
        "ko",
        [
            "서울행 기차는 매일 아침 여덟 시에 출발합니다.",
            "실례지만, 가장 가까운 지하철역이 어디에 있나요?",
            "지난 주말에 가족과 함께 바닷가에 다녀왔어요.",
            "설탕 없이 커피 한 잔 주세요.",
        ]
    ),
    lang!(
        "vi",
        "Vietnamese",
        [],
        Some("vi"),
        "vi",
        [
            "Chuyến tàu đi Hà Nội khởi hành lúc tám giờ sáng mỗi ngày.",
            "Xin lỗi, bạn có thể chỉ cho tôi ga gần nhất ở đâu không?",
            "Cuối tuần trước, cả gia đình tôi đã đi biển.",
            "Cho tôi một ly cà phê sữa đá, cảm ơn.",
        ]
    ),
    lang!(
        "fi",
        "Finnish",
        [],
        Some("fi"),
        "fi",
        [
            "Juna Helsinkiin lähtee joka aamu kello kahdeksan.",
            "Anteeksi, voisitteko kertoa, missä lähin asema on?",
            "Viime viikonloppuna kävimme mökillä koko perheen kanssa.",
            "Saisinko kupin kahvia ilman sokeria?",
        ]
    ),
    lang!(
        "hu",
        "Hungarian",
        [],
        Some("hu"),
        "hu",
        [
            "A budapesti vonat minden reggel nyolc órakor indul.",
            "Elnézést, meg tudná mondani, hol van a legközelebbi megálló?",
            "A múlt hétvégén a családdal a Balatonhoz utaztunk.",
            "Kérek egy kávét tejjel, cukor nélkül.",
        ]
    ),
    lang!(
        "sv",
        "Swedish",
        [],
        Some("sv"),
        "sv",
        [
            "Tåget till Stockholm går varje morgon klockan åtta.",
            "Ursäkta, kan du säga var närmaste station ligger?",
            "Förra helgen åkte vi ut på landet med hela familjen.",
            "Jag skulle vilja ha en kopp kaffe med mjölk, tack.",
        ]
    ),
    lang!(
        "eo",
        "Esperanto",
        [],
        None,
        "eo",
        [
            "La trajno al la urbo foriras ĉiun matenon je la oka horo.",
            "Pardonu, ĉu vi povas diri al mi, kie estas la plej proksima stacio?",
            "Pasintan semajnfinon ni veturis al la maro kun la tuta familio.",
            "Mi ŝatus tason da kafo sen sukero, mi petas.",
        ]
    ),
    lang!(
        "uk",
        "Ukrainian",
        [],
        Some("uk"),
        "uk",
        [
            "Потяг до Києва вирушає щоранку о восьмій годині.",
            "Вибачте, підкажіть, будь ласка, де найближча станція метро?",
            "Минулих вихідних ми їздили до бабусі в село.",
            "Мені, будь ласка, чашку чаю з лимоном.",
        ]
    ),
    lang!(
        "cs",
        "Czech",
        [],
        Some("cs"),
        "cs",
        [
            "Vlak do Prahy odjíždí každé ráno v osm hodin.",
            "Promiňte, můžete mi říct, kde je nejbližší zastávka?",
            "Minulý víkend jsme byli s celou rodinou na horách.",
            "Dal bych si kávu s mlékem, prosím.",
        ]
    ),
    lang!(
        "ro",
        "Romanian",
        [],
        Some("ro"),
        "ro",
        [
            "Trenul spre București pleacă în fiecare dimineață la ora opt.",
            "Scuzați-mă, îmi puteți spune unde este cea mai apropiată stație?",
            "Weekendul trecut am mers la mare cu toată familia.",
            "Aș dori o cafea cu lapte, vă rog.",
        ]
    ),
    lang!(
        "id",
        "Indonesian",
        [],
        Some("id"),
        "id",
        [
            "Kereta ke Jakarta berangkat setiap pagi pukul delapan.",
            "Permisi, di mana halte bus yang paling dekat?",
            "Akhir pekan lalu kami pergi ke pantai bersama keluarga.",
            "Saya mau pesan satu gelas teh manis, terima kasih.",
        ]
    ),
    lang!(
        "he",
        "Hebrew",
        [],
        Some("he"),
        "he",
        [
            "הרכבת לתל אביב יוצאת כל בוקר בשעה שמונה.",
            "סליחה, אתה יכול להגיד לי איפה התחנה הקרובה?",
            "בסוף השבוע שעבר נסענו לים עם כל המשפחה.",
            "אני רוצה כוס קפה בלי סוכר, בבקשה.",
        ]
    ),
    lang!(
        "th",
        "Thai",
        [],
        Some("th"),
        "th",
        [
            "รถไฟไปเชียงใหม่ออกทุกเช้าเวลาแปดโมง",
            "ขอโทษครับ สถานีที่ใกล้ที่สุดอยู่ที่ไหนครับ",
            "สุดสัปดาห์ที่แล้วเราไปเที่ยวทะเลกับครอบครัว",
            "ขอกาแฟเย็นหนึ่งแก้ว ไม่ใส่น้ำตาลครับ",
        ]
    ),
    lang!(
        "ca",
        "Catalan",
        [],
        Some("ca"),
        "ca",
        [
            "El tren cap a Barcelona surt cada matí a les vuit.",
            "Perdoni, em pot dir on és l'estació més propera?",
            "El cap de setmana passat vam anar a la platja amb tota la família.",
            "Voldria un cafè amb llet, si us plau.",
        ]
    ),
    lang!(
        "da",
        "Danish",
        [],
        Some("da"),
        "da",
        [
            "Toget til København kører hver morgen klokken otte.",
            "Undskyld, kan du fortælle mig, hvor den nærmeste station ligger?",
            "Sidste weekend tog vi til stranden med hele familien.",
            "Jeg vil gerne have en kop kaffe med mælk, tak.",
        ]
    ),
    lang!(
        "no",
        "Norwegian",
        ["Bokmal", "Bokmål"],
        Some("no"),
        "nb",
        [
            "Toget til Oslo går hver morgen klokka åtte.",
            "Unnskyld, kan du si meg hvor nærmeste stasjon er?",
            "Forrige helg dro vi på hytta med hele familien.",
            "Jeg vil gjerne ha en kopp kaffe med melk, takk.",
        ]
    ),
    lang!(
        "is",
        "Icelandic",
        [],
        Some("is"),
        "is",
        [
            "Rútan til Reykjavíkur fer á hverjum morgni klukkan átta.",
            "Afsakið, getið þér sagt mér hvar næsta stoppistöð er?",
            "Um síðustu helgi fórum við í sund með allri fjölskyldunni.",
            "Ég ætla að fá einn kaffibolla með mjólk, takk.",
        ]
    ),
    lang!(
        "eu",
        "Basque",
        [],
        Some("eu"),
        "eu",
        [
            "Bilborako trena goizero zortzietan ateratzen da.",
            "Barkatu, non dago geltokirik hurbilena?",
            "Joan den asteburuan hondartzara joan ginen familia osoarekin.",
            "Kafe bat esnearekin, mesedez.",
        ]
    ),
    lang!(
        "cy",
        "Welsh",
        [],
        Some("cy"),
        "cy",
        [
            "Mae'r trên i Gaerdydd yn gadael bob bore am wyth o'r gloch.",
            "Esgusodwch fi, ble mae'r orsaf agosaf?",
            "Aethon ni i lan y môr gyda'r teulu y penwythnos diwethaf.",
            "Hoffwn i gael paned o de gyda llaeth, os gwelwch yn dda.",
        ]
    ),
    lang!(
        "sk",
        "Slovak",
        [],
        Some("sk"),
        "sk",
        [
            "Vlak do Bratislavy odchádza každé ráno o ôsmej.",
            "Prepáčte, môžete mi povedať, kde je najbližšia zastávka?",
            "Minulý víkend sme boli s celou rodinou na horách.",
            "Dám si kávu s mliekom, prosím.",
        ]
    ),
    lang!(
        "sl",
        "Slovenian",
        ["Slovene"],
        Some("sl"),
        "sl",
        [
            "Vlak za Ljubljano odpelje vsako jutro ob osmih.",
            "Oprostite, mi lahko poveste, kje je najbližja postaja?",
            "Prejšnji konec tedna smo se z družino odpravili na morje.",
            "Prosim, eno kavo z mlekom.",
        ]
    ),
    lang!(
        "hr",
        "Croatian",
        [],
        Some("hr"),
        "hr",
        [
            "Vlak za Zagreb polazi svako jutro u osam sati.",
            "Oprostite, možete li mi reći gdje je najbliža stanica?",
            "Prošlog vikenda išli smo na more s cijelom obitelji.",
            "Molim vas jednu kavu s mlijekom.",
        ]
    ),
    lang!(
        "sr",
        "Serbian",
        [],
        Some("sr"),
        "sr",
        [
            "Воз за Београд полази свако јутро у осам сати.",
            "Извините, да ли можете да ми кажете где је најближа станица?",
            "Прошлог викенда смо ишли на планину са целом породицом.",
            "Молим вас једну кафу са млеком.",
        ]
    ),
    lang!(
        "bg",
        "Bulgarian",
        [],
        Some("bg"),
        "bg",
        [
            "Влакът за София тръгва всяка сутрин в осем часа.",
            "Извинете, можете ли да ми кажете къде е най-близката спирка?",
            "Миналия уикенд ходихме на море с цялото семейство.",
            "Едно кафе с мляко, моля.",
        ]
    ),
    lang!(
        "lt",
        "Lithuanian",
        [],
        Some("lt"),
        "lt",
        [
            "Traukinys į Vilnių išvyksta kiekvieną rytą aštuntą valandą.",
            "Atsiprašau, gal galite pasakyti, kur yra artimiausia stotelė?",
            "Praėjusį savaitgalį su visa šeima važiavome prie jūros.",
            "Prašau vieną kavą su pienu.",
        ]
    ),
    lang!(
        "lv",
        "Latvian",
        [],
        Some("lv"),
        "lv",
        [
            "Vilciens uz Rīgu atiet katru rītu astoņos.",
            "Atvainojiet, vai jūs varat pateikt, kur ir tuvākā pietura?",
            "Pagājušajā nedēļas nogalē mēs ar visu ģimeni braucām uz jūru.",
            "Lūdzu, vienu kafiju ar pienu.",
        ]
    ),
    lang!(
        "et",
        "Estonian",
        [],
        Some("et"),
        "et",
        [
            "Rong Tallinnasse väljub igal hommikul kell kaheksa.",
            "Vabandage, kas te oskate öelda, kus on lähim peatus?",
            "Möödunud nädalavahetusel käisime kogu perega mere ääres.",
            "Palun üks kohv piimaga.",
        ]
    ),
    lang!(
        "sw",
        "Swahili",
        ["Kiswahili"],
        Some("sw"),
        "sw",
        [
            "Treni ya kwenda Nairobi huondoka kila asubuhi saa mbili.",
            "Samahani, unaweza kuniambia kituo cha basi kilicho karibu kiko wapi?",
            "Wikendi iliyopita tulienda ufukweni pamoja na familia yote.",
            "Naomba kikombe kimoja cha chai na maziwa.",
        ]
    ),
    lang!(
        "ta",
        "Tamil",
        [],
        Some("ta"),
        "ta",
        [
            "சென்னைக்குச் செல்லும் ரயில் தினமும் காலை எட்டு மணிக்குப் புறப்படுகிறது.",
            "மன்னிக்கவும், அருகிலுள்ள பேருந்து நிலையம் எங்கே இருக்கிறது?",
            "கடந்த வார இறுதியில் நாங்கள் குடும்பத்துடன் கடற்கரைக்குச் சென்றோம்.",
            "எனக்கு ஒரு கப் காபி வேண்டும், சர்க்கரை இல்லாமல்.",
        ]
    ),
    lang!(
        "bn",
        "Bengali",
        ["Bangla"],
        Some("bn"),
        "bn",
        [
            "কলকাতার ট্রেন প্রতিদিন সকাল আটটায় ছাড়ে।",
            "মাফ করবেন, সবচেয়ে কাছের স্টেশনটা কোথায় বলতে পারেন?",
            "গত সপ্তাহান্তে আমরা পরিবারের সবাই মিলে সমুদ্রে বেড়াতে গিয়েছিলাম।",
            "আমাকে এক কাপ চা দিন, চিনি ছাড়া।",
        ]
    ),
    lang!(
        "ur",
        "Urdu",
        [],
        Some("ur"),
        "ur",
        [
            "لاہور جانے والی ٹرین ہر صبح آٹھ بجے روانہ ہوتی ہے۔",
            "معاف کیجیے، کیا آپ بتا سکتے ہیں کہ قریب ترین اسٹیشن کہاں ہے؟",
            "پچھلے ہفتے کے آخر میں ہم پورے خاندان کے ساتھ سمندر پر گئے تھے۔",
            "مجھے ایک کپ چائے چاہیے، کم چینی کے ساتھ۔",
        ]
    ),
    lang!(
        "ne",
        "Nepali",
        ["Nepalese"],
        Some("ne"),
        "ne",
        [
            "काठमाडौं जाने बस हरेक बिहान आठ बजे छुट्छ।",
            "माफ गर्नुहोस्, नजिकैको बस बिसौनी कहाँ छ?",
            "गएको सप्ताहन्तमा हामी परिवारसँग पोखरा घुम्न गयौं।",
            "मलाई एक कप चिया दिनुहोस्, चिनी कम।",
        ]
    ),
    lang!(
        "ka",
        "Georgian",
        [],
        Some("ka"),
        "ka",
        [
            "თბილისის მატარებელი ყოველ დილით რვა საათზე გადის.",
            "ბოდიში, ხომ ვერ მეტყვით, სად არის უახლოესი გაჩერება?",
            "გასულ შაბათ-კვირას მთელი ოჯახით ზღვაზე ვიყავით.",
            "ერთი ფინჯანი ყავა რძით, თუ შეიძლება.",
        ]
    ),
    lang!(
        "hy",
        "Armenian",
        [],
        Some("hy"),
        "hy",
        [
            "Երևան գնացող գնացքը մեկնում է ամեն առավոտ ժամը ութին։",
            "Կներեք, կարո՞ղ եք ասել, թե որտեղ է մոտակա կանգառը։",
            "Անցյալ շաբաթավերջին ամբողջ ընտանիքով գնացինք լիճ։",
            "Մեկ բաժակ սուրճ կաթով, խնդրում եմ։",
        ]
    ),
    lang!(
        "am",
        "Amharic",
        [],
        Some("am"),
        "am",
        [
            "ወደ አዲስ አበባ የሚሄደው አውቶቡስ በየቀኑ ጠዋት ይነሳል።",
            "ይቅርታ፣ በአቅራቢያ ያለው ጣቢያ የት ነው?",
            "ባለፈው ሳምንት መጨረሻ ከቤተሰቤ ጋር ወደ ሐይቅ ሄድን።",
            "እባክዎ አንድ ስኒ ቡና ይስጡኝ።",
        ]
    ),
    lang!(
        "af",
        "Afrikaans",
        [],
        Some("af"),
        "af",
        [
            "Die trein na Kaapstad vertrek elke oggend om agtuur.",
            "Verskoon my, kan jy vir my sê waar die naaste stasie is?",
            "Verlede naweek is ons saam met die hele gesin strand toe.",
            "Ek wil graag 'n koppie koffie met melk hê, asseblief.",
        ]
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn code(l: Option<&Language>) -> Option<&'static str> {
        l.map(|l| l.code)
    }

    #[test]
    fn table_is_well_formed() {
        let mut codes = BTreeSet::new();
        for l in LANGUAGES {
            assert!(codes.insert(l.code), "{} twice", l.code);
            assert!(l.sentences.len() >= 3, "{}: too few sentences", l.code);
            assert!(by_name(l.name).is_some_and(|x| x.code == l.code));
        }
        for need in [
            "en", "de", "fr", "es", "it", "pt", "nl", "ru", "pl", "tr", "el", "fa", "ar", "hi",
            "zh", "ja", "ko", "vi", "fi", "hu", "sv", "eo", "uk", "cs", "ro", "id", "he",
        ] {
            assert!(by_code(need).is_some(), "{need} missing");
        }
        assert_eq!(by_code("zh").unwrap().espeak, "cmn");
        // Languages not written in Latin letters: no Latin letter at all.
        let non_latin = [
            "ru", "el", "fa", "ar", "hi", "zh", "yue", "ja", "ko", "uk", "he", "th", "sr", "bg",
            "ta", "bn", "ur", "ne", "ka", "hy", "am",
        ];
        for c in non_latin {
            for s in by_code(c).unwrap().sentences {
                assert!(
                    !s.chars().any(|ch| ch.is_ascii_alphabetic()),
                    "{c}: {s:?} should be in the language's own script"
                );
            }
        }
    }

    #[test]
    fn language_from_released_audio_folders() {
        let cases = [
            ("germanphrases/cheers5_de.wav", Some("de")),
            ("frenchphrases/doyouspeak6_fr.wav", Some("fr")),
            ("spanishphrases/x.wav", Some("es")),
            ("mandarinphrases/toilet1_mandarin.wav", Some("zh")),
            ("greekphrases/callthepolice2_el.wav", Some("el")),
            ("persianphrase/iloveyou2_fa.wav", Some("fa")),
            ("esperantophrases/goodafternoon_eo.wav", Some("eo")),
            ("turkishphrases/longtimenosee2_tr.wav", Some("tr")),
            ("common_voice_vi/vi6.wav", Some("vi")),
            ("common_voice_zh/tw3.wav", Some("zh")),
            ("common_voice_It/it6.wav", Some("it")),
            ("common_voice_ja/ja6.wav", Some("ja")),
            ("common_voice_dv/dv2.wav", None),
            ("audio_dataset/NoiseDetection/audio (1).wav", None),
            ("audioset2/1/4.wav", None),
            ("./audioset1/assets/audio14.wav", None),
            ("music/1728.wav", None),
            ("Hokkien/1.wav", None),
            ("audio/audio.wav", None),
            ("", None),
        ];
        for (path, want) in cases {
            assert_eq!(code(from_media_path(path)), want, "{path}");
        }
    }

    #[test]
    fn language_from_descriptions() {
        let cases = [
            ("Lecture recording in Persian with chalk sounds", Some("fa")),
            (
                "A 5-second recording of a man reading a sentence in Icelandic.",
                Some("is"),
            ),
            (
                "A voice note of a young man speaking Mandarin about weekend plans",
                Some("zh"),
            ),
            ("A podcast in Mandarin Chinese", Some("zh")),
            ("Vlog audio in FRENCH of a young woman", Some("fr")),
            ("A 20-second English sales call snippet", Some("en")),
            ("Farsi news bulletin", Some("fa")),
            ("Spanish-accented English from a call centre", None),
            ("A German and French bilingual announcement", None),
            ("A Tagalog radio ad with English loanwords", None),
            ("Hokkien street vendor calls", None),
            ("A dog barking in a park", None),
            // Whole words only: "polish" inside "polished" is not Polish.
            ("A polished studio voice-over in Dutch", Some("nl")),
            ("Englishman's voicemail", None),
        ];
        for (text, want) in cases {
            assert_eq!(code(from_description(text)), want, "{text}");
        }
    }
}
