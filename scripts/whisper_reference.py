#!/usr/bin/env python3
"""Reference language ID with the CTranslate2 runtime on the same Whisper-base weights and espeak-ng speech.

Checks that the Rust pipeline (mel + encoder + language token) agrees with the reference implementation.
Needs: pip install ctranslate2 numpy; espeak-ng. Usage: scripts/whisper_reference.py [WEIGHTS_DIR]
"""
import os, subprocess, sys, tempfile, wave

import ctranslate2
import numpy as np
# The sentences of crates/mmtool-encoders/tests/whisper_langid.rs.
SPEECH = [["en", "The weather is sunny and warm today, so we will walk to the park after lunch and read a book."], ["de", "Das Wetter ist heute sonnig und warm, deshalb gehen wir nach dem Mittagessen in den Park und lesen ein Buch."], ["fr", "Il fait beau et chaud aujourd'hui, alors nous irons au parc après le déjeuner pour lire un livre."], ["es", "Hoy hace sol y calor, así que después del almuerzo vamos a caminar al parque y leer un libro."], ["cmn", "今天天气晴朗温暖，所以我们吃完午饭以后去公园散步，然后看一本书。"], ["ru", "Сегодня солнечно и тепло, поэтому после обеда мы пойдём гулять в парк и читать книгу."], ["it", "Oggi fa bello e caldo, quindi dopo pranzo andremo al parco a leggere un libro."], ["pt", "Hoje está sol e calor, então depois do almoço vamos caminhar até o parque e ler um livro."]]
TMP = tempfile.mkdtemp()
SR=16000; N_FFT=400; HOP=160
def mel_filters(sr=16000,n_fft=400,n_mels=80):
    # librosa slaney mel
    def hz_to_mel(f):
        f=np.asanyarray(f,dtype=float); mels=f/(200.0/3)
        min_log_hz=1000.0; min_log_mel=min_log_hz/(200.0/3); logstep=np.log(6.4)/27.0
        return np.where(f>=min_log_hz, min_log_mel+np.log(np.maximum(f,1e-10)/min_log_hz)/logstep, mels)
    def mel_to_hz(m):
        m=np.asanyarray(m,dtype=float); freqs=(200.0/3)*m
        min_log_hz=1000.0; min_log_mel=min_log_hz/(200.0/3); logstep=np.log(6.4)/27.0
        return np.where(m>=min_log_mel, min_log_hz*np.exp(logstep*(m-min_log_mel)), freqs)
    fftfreqs=np.fft.rfftfreq(n_fft,1/sr)
    mel_f=mel_to_hz(np.linspace(hz_to_mel(0),hz_to_mel(sr/2),n_mels+2))
    fdiff=np.diff(mel_f); ramps=mel_f[:,None]-fftfreqs[None,:]
    w=np.zeros((n_mels,len(fftfreqs)))
    for i in range(n_mels):
        lower=-ramps[i]/fdiff[i]; upper=ramps[i+2]/fdiff[i+1]
        w[i]=np.maximum(0,np.minimum(lower,upper))
    enorm=2.0/(mel_f[2:n_mels+2]-mel_f[:n_mels]); w*=enorm[:,None]
    return w
def logmel(audio):
    audio=np.concatenate([audio, np.zeros(30*SR)])[:30*SR] if len(audio)<30*SR else audio[:30*SR]
    x=np.pad(audio,(N_FFT//2,N_FFT//2),mode='reflect')
    win=0.5-0.5*np.cos(2*np.pi*np.arange(N_FFT)/N_FFT)
    frames=np.lib.stride_tricks.sliding_window_view(x,N_FFT)[::HOP]*win
    spec=np.abs(np.fft.rfft(frames,axis=1))**2
    spec=spec[:-1].T
    m=mel_filters()@spec
    l=np.log10(np.maximum(m,1e-10)); l=np.maximum(l,l.max()-8.0); return ((l+4)/4).astype(np.float32)
def read(path):
    w=wave.open(path); sr=w.getframerate(); a=np.frombuffer(w.readframes(w.getnframes()),dtype=np.int16).astype(np.float32)/32768
    # simple resample via FFT-free linear interp is poor; use numpy polyphase-ish: scipy unavailable -> linear interp
    t=np.arange(int(len(a)*SR/sr))*sr/SR
    return np.interp(t,np.arange(len(a)),a).astype(np.float32)
model=ctranslate2.models.Whisper(sys.argv[1] if len(sys.argv) > 1 else os.path.expanduser('~/.cache/mmtool/models/whisper'), device='cpu', compute_type='float32')
for voice,text in SPEECH:
    subprocess.run(['espeak-ng','-v',voice,'-s','130','-w',os.path.join(TMP, f'{voice}.wav'),text],check=True)
    a=read(os.path.join(TMP, f'{voice}.wav'))
    feats=logmel(a)[None]
    r=model.detect_language(ctranslate2.StorageView.from_array(feats))
    print(voice, len(a)/SR, [(l,round(p,3)) for l,p in r[0][:3]])
